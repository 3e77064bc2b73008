"""Text comparison rules shared by change detection and search.

Text is stored exactly as published; these functions produce the *comparison* form only.
Japanese pages mix full-width and half-width forms (ＡＩ / AI, ２０２６ / 2026) and use
U+3000 ideographic spaces, so a re-rendered page would otherwise look like an edit.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import deque
from functools import lru_cache

_WHITESPACE = re.compile(r"\s+")  # str patterns match U+3000 and other Unicode spaces


def normalise(text: str) -> str:
    """Return the comparison form: NFKC, every run of whitespace folded to one space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


@lru_cache(maxsize=8192)  # a topic's texts recur run after run; stripping edges costs µs
def comparison_key(text: str) -> str:
    """The form compared for edits: NFKC with every whitespace character removed, and
    without volatile fragments at its edges (:func:`without_volatile_edges`).

    Removing (not just folding) whitespace is deliberate: Japanese sets no word spaces, so
    a space appearing after 「、」 or around a Latin name is a rendering change, not an edit.
    """
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", without_volatile_edges(text)))


def content_hash(headline: str, summary: str) -> str:
    """Hash of the comparison keys: equal hashes mean "no edit" for change detection."""
    key = comparison_key(headline) + "\x1f" + comparison_key(summary)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


# Codecs a lying charset label makes a browser-less decoder use on UTF-8 bytes.
_MOJIBAKE_CODECS = ("cp932", "euc_jp", "cp1252", "latin-1")


def is_mojibake_of(text: str, original: str) -> bool:
    """Whether ``text`` is ``original``'s UTF-8 bytes decoded with a legacy codec.

    A UTF-8 page labelled Shift_JIS decodes without a single error into plausible kanji;
    comparing it with the archived text would record an edit of every field. Encoding the
    suspect back with each legacy codec and reading the bytes as UTF-8 undoes exactly
    that mistake, so the check never mistakes a real edit for mojibake.
    """
    if not original or not text or text == original:
        return False
    key = comparison_key(original)
    for codec in _MOJIBAKE_CODECS:
        try:
            recovered = text.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        if comparison_key(recovered) == key:
            return True
    return False


def valid_unicode(text: str) -> str:
    """``text`` with lone surrogates (from ``\\ud800`` in JSON) replaced by U+FFFD.

    SQLite stores UTF-8, which cannot encode a lone surrogate: one such character would
    fail the whole run's commit.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


# ---------------------------------------------------------------- volatile edge fragments
#
# Listing themes put text that changes on its own next to a headline or summary, often in
# the same link and with no class to tell it apart: relative times (48分前), counters
# (1,234 views, 閲覧数 52, 👁 120), badges (NEW!, UP, 更新). Read as part of the field,
# each run would see an edit. A fragment is dropped only when it stands apart at an edge
# of the field (whitespace or, for the crawler, an element edge around it, or brackets of
# its own): 「3日前の地震」 keeps its words. The patterns are bounded, so each test is cheap.

_NUMBER = r"(?:\d{1,3}(?:[,，]\d{3}){1,4}|\d{1,9}(?:[.．]\d{1,2})?)"
_AMOUNT = rf"{_NUMBER}\s?(?:[kKmM万千]\+?|\+)?"
_AGO_UNIT = r"(?:秒|分|時間|日|週間|週|か月|ヶ月|カ月|ヵ月|ケ月|年)"
_RELATIVE_TIME = (
    rf"(?:(?:更新|公開|投稿)[:：]?\s?)?(?:約|およそ)?\d{{1,9}}\s?{_AGO_UNIT}前"
    r"(?:に?(?:更新|公開|投稿))?"
    r"|(?i:\d{1,9}\s?(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?"
    r"|weeks?|mo|months?|y|yrs?|years?)\s?ago|(?:an?|one)\s(?:second|minute|hour|day|week"
    r"|month|year)\sago|just\snow)"
    r"|たった今|今日|昨日|一昨日|本日"
)
_COUNTER_WORD = r"(?:(?i:views?|pv|reads?|likes?|shares?|comments?)|閲覧数?|回閲覧|回表示|いいね|件のコメント|コメント|シェア|ビュー)"  # noqa: E501
_COUNTER_ICON = "(?:👁\ufe0f?|👀|💬|❤\ufe0f?|♥|♡|🔥)"
_COUNTER = (
    rf"{_AMOUNT}\s?{_COUNTER_WORD}"
    rf"|(?:{_COUNTER_WORD}|{_COUNTER_ICON})\s?[:：]?\s?{_AMOUNT}(?:\s?(?:回|件|{_COUNTER_WORD}))?"
)
_BADGE = r"NEW!{0,3}|(?i:new)!{1,3}|UP!{0,3}|(?i:up)!{1,3}|HOT!{0,3}|更新!?|新着!?"
_VOLATILE_BODY = f"(?:{_RELATIVE_TIME}|{_COUNTER}|{_BADGE})"
_OPEN, _CLOSE = "[\\[【［(（<＜〈《]", "[\\]】］)）>＞〉》]"
_BRACKETED = f"{_OPEN}\\s?{_VOLATILE_BODY}\\s?{_CLOSE}"
VOLATILE_FRAGMENT = re.compile(f"{_VOLATILE_BODY}|{_BRACKETED}")
"""One volatile fragment, whole (``fullmatch``, whitespace folded to single spaces)."""

_BRACKETED_FRAGMENT = re.compile(_BRACKETED)
_OPENERS, _CLOSERS = "[【［(（<＜〈《", "]】］)）>＞〉》"
_SEPARATOR = re.compile(r"[|｜/／・·•:：\-–—]+")
_CHUNK = re.compile(r"\s+|\S+")
_MAX_FRAGMENT = 40  # characters: longer than anything the patterns match
_MAX_WORDS = 4  # a fragment spans at most this many words ("3 minutes ago", "閲覧数 : 52")


def is_volatile(fragment: str) -> bool:
    """Whether ``fragment`` is, as a whole, a relative time, a counter or a badge."""
    if len(fragment) > 4 * _MAX_FRAGMENT:  # even with its whitespace not yet folded
        return False
    return VOLATILE_FRAGMENT.fullmatch(" ".join(fragment.split())) is not None


def strip_volatile_edges(text: str) -> str:
    """``text`` without the volatile fragments at its start and end (see the patterns).

    A fragment stands apart by whitespace or by brackets of its own; text inside the field
    is never touched, and a text that is nothing but fragments becomes "". Linear.
    """
    return "".join(strip_volatile_chunks(text_chunks(text))).strip()


def text_chunks(text: str) -> list[str]:
    """``text`` as alternating runs of whitespace and of other characters."""
    return _CHUNK.findall(text)


def strip_volatile_chunks(chunks: list[str]) -> list[str]:
    """:func:`strip_volatile_edges` on chunks (runs of whitespace, and words).

    Two adjacent words stand apart as if whitespace separated them: the crawler splits
    words at element edges, so ``<span>見出し</span><span>48分前</span>`` loses its time.
    """
    kept = deque(chunks)
    while _strip_end(kept, tail=True) or _strip_end(kept, tail=False):
        pass
    return list(kept)


def _strip_end(kept: deque[str], *, tail: bool) -> bool:
    """Drop one volatile fragment (and a separator such as ``|`` beside it) at one end."""
    _trim_space(kept, tail=tail)
    size = _fragment_size(kept, tail=tail)
    if not size:
        return _cut_bracketed(kept, tail=tail)
    for _ in range(size):
        _pop(kept, tail=tail)
    _trim_space(kept, tail=tail)
    if kept and _SEPARATOR.fullmatch(kept[-1] if tail else kept[0]):
        _pop(kept, tail=tail)
        _trim_space(kept, tail=tail)
    return True


def _trim_space(kept: deque[str], *, tail: bool) -> None:
    while kept and (kept[-1] if tail else kept[0]).isspace():
        _pop(kept, tail=tail)


def _pop(kept: deque[str], *, tail: bool) -> None:
    if tail:
        kept.pop()
    else:
        kept.popleft()


def _fragment_size(kept: deque[str], *, tail: bool) -> int:
    """How many chunks at that end form the shortest volatile fragment (0: none do)."""
    picked: list[str] = []
    length = words = 0
    for offset in range(min(len(kept), 2 * _MAX_WORDS)):
        chunk = kept[-1 - offset] if tail else kept[offset]
        space = chunk.isspace()
        length += 1 if space else len(chunk)
        words += not space
        if length > _MAX_FRAGMENT or words > _MAX_WORDS:
            return 0
        picked.append(" " if space else chunk)
        if not space and VOLATILE_FRAGMENT.fullmatch("".join(picked[::-1] if tail else picked)):
            return offset + 1
    return 0


def _cut_bracketed(kept: deque[str], *, tail: bool) -> bool:
    """Cut a bracketed fragment glued to the edge word: ``【NEW】見出し``, ``見出し(3分前)``."""
    if not kept:
        return False
    word = kept[-1] if tail else kept[0]
    if tail:
        if word[-1] not in _CLOSERS:
            return False
        start = max(0, len(word) - _MAX_FRAGMENT)
        opening = max(word.rfind(char, start) for char in _OPENERS)
        if opening <= 0 or not _BRACKETED_FRAGMENT.fullmatch(word, opening):
            return False
        kept[-1] = word[:opening]
        return True
    if word[0] not in _OPENERS:
        return False
    match = _BRACKETED_FRAGMENT.match(word[:_MAX_FRAGMENT])
    if match is None or match.end() == len(word):
        return False
    kept[0] = word[match.end() :]
    return True


# A relative time or counter glued to the end of a field ("見出し48分前"): how older
# extractors stored ``<span>見出し</span><span>48分前</span>``. Only forms with a number,
# so a headline that merely ends in words such as 今日 keeps them.
_GLUED_TAIL = re.compile(
    rf"(?:(?:約|およそ)?\d{{1,9}}\s?{_AGO_UNIT}前(?:に?(?:更新|公開|投稿))?|{_COUNTER})$"
)


def without_volatile_edges(text: str) -> str:
    """``text`` as compared: volatile fragments at its edges do not count.

    :func:`strip_volatile_edges`, then a numbered relative time or counter glued to the
    end, as archives written before fragments were separated hold them (comparing only:
    stored text keeps what was published). Linear: only the last characters are tried.
    """
    edges = text.strip()
    if not edges or (edges[0] not in _FRAGMENT_STARTS and edges[-1] not in _FRAGMENT_ENDS):
        return text  # the common case, decided in a few hundred nanoseconds
    text = strip_volatile_edges(text)
    if not text or text[-1] not in _FRAGMENT_ENDS:
        return text
    tail = text[-_MAX_FRAGMENT:]
    glued = _GLUED_TAIL.search(tail, 1)  # never the whole text: a field is not only that
    return text[: len(text) - len(tail) + glued.start()].rstrip() if glued else text


# The characters a volatile fragment can begin or end with (a cheap test that most texts,
# ending in 。 or a word, fail at once): ASCII letters and digits (NEW, views, 3 hours
# ago), brackets, icons, and the first or last characters of the Japanese forms.
_ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_FULLWIDTH_DIGITS = "０１２３４５６７８９"
_ICONS = "👁👀💬❤♥♡🔥\ufe0f"
_FRAGMENT_STARTS = frozenset(
    _ASCII + _FULLWIDTH_DIGITS + _ICONS + _OPENERS + "約お更公投た今昨一本閲回い件コシビ新"
)
_FRAGMENT_ENDS = frozenset(
    _ASCII + _FULLWIDTH_DIGITS + _ICONS + _CLOSERS + "!！前新着日今回件覧数示ねトアー稿開万千+"
)
