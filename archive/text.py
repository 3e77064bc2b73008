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
    Invisible characters go too (:func:`visible_form`).
    """
    return _WHITESPACE.sub("", without_volatile_edges(text))


# Default-ignorable code points: soft hyphens (&shy; for hyphenation), zero-width spaces
# and joiners, word joiners, BOMs, bidi marks, variation selectors (❤ / ❤️, 葛 / 葛󠄀). A
# theme or CMS adds and drops them without a visible change.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]"
)


# Characters that one text shows in two spellings depending on who wrote the bytes: the
# Windows-31J and JIS tables decode the same Shift_JIS bytes as ～/〜, －/−, ―/—, ∥/‖; and a
# CMS "smart quotes" filter (WordPress' wptexturize) turns "…" into “…” and -- into –.
_VARIANTS = str.maketrans(
    {"〜": "~", "‖": "∥", "‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"',
     "‟": '"', "′": "'", "″": '"'}
)  # fmt: skip
_DASHES = re.compile("[-\u2010-\u2015\u2212]+")


def visible_form(text: str) -> str:
    """``text`` in NFKC without invisible characters, with the spelling variants above
    folded and a run of dashes as one ``-``: what a reader sees, for comparing."""
    text = _IGNORABLE.sub("", unicodedata.normalize("NFKC", text)).translate(_VARIANTS)
    return _DASHES.sub("-", text)


@lru_cache(maxsize=8192)  # the same cards are hashed run after run (classify, writes)
def content_hash(headline: str, summary: str) -> str:
    """Hash of the comparison keys: equal hashes mean "no edit" for change detection."""
    key = comparison_key(headline) + "\x1f" + comparison_key(summary)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


# Codecs a lying charset label makes a decoder use (wrong), and what the bytes were (right).
_WRONG_CODECS = ("cp932", "euc_jp", "cp1252", "latin-1")
_RIGHT_CODECS = ("utf-8", "cp932", "euc_jp")


def is_mojibake_of(text: str, original: str) -> bool:
    """Whether ``text`` is ``original``'s bytes decoded with the wrong codec.

    A UTF-8 page labelled Shift_JIS decodes without a single error into plausible kanji,
    and a Shift_JIS or EUC-JP page labelled windows-1252 into Latin letters; comparing it
    with the archived text would record an edit of every field. Encoding the suspect back
    with the wrong codec and decoding the bytes with the right one undoes exactly that
    mistake, so the check never mistakes a real edit for mojibake.
    """
    if not original or not text or text == original:
        return False
    key = comparison_key(original)
    for wrong in _WRONG_CODECS:
        try:
            raw = text.encode(wrong)
        except UnicodeError:
            continue
        for right in _RIGHT_CODECS:
            if right == wrong:
                continue
            try:
                recovered = raw.decode(right)
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
#
# Candidates are matched in their NFKC form (ＮＥＷ！, ３分前, 閲覧数：１，２３４ read as
# NEW!, 3分前, 閲覧数:1,234), so one pattern covers every width. The rules are shapes, not
# lists of examples: a relative time is a number and a unit followed by "ago" (前); a
# counter is a number beside a counting noun (views, 再生, いいね) or icon. A number alone,
# or a year (2024年), is never a fragment: a headline may be just that.

_NUMBER = r"(?:\d{1,3}(?:,\d{3}){1,4}|\d{1,9}(?:\.\d{1,3})?)"
_AMOUNT = rf"{_NUMBER}\s?(?:[kKmMbB万千億]\+?|\+)?"
_AGO_UNIT = r"(?:秒|分|時間|日|週間|週|か月|ヶ月|カ月|ヵ月|ケ月|年)"
_WHEN_VERB = r"(?:更新|公開|投稿|配信|掲載)"
_EN_UNIT = (
    r"(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?|mo|months?"
    r"|y|yrs?|years?)"
)
# 数 ("a few") counts as a number in Japanese: 数分前, 十数時間前. Not in English: "what
# we knew a few days ago" ends a headline far more often than 数日前 does.
_RELATIVE_TIME = (
    rf"(?:(?:最終)?{_WHEN_VERB}(?:日時?)?:?\s?)?(?:約|およそ)?(?:\d{{1,9}}|十?数)\s?{_AGO_UNIT}\s?前"
    rf"(?:に?{_WHEN_VERB}(?:されました)?)?"
    rf"|(?i:(?:(?:last\s)?(?:updated|posted|published|edited)(?:\son)?\s?:?\s?)?"
    rf"(?:(?:\d{{1,9}}|an?|one)\s?{_EN_UNIT}\sago|just\snow))"
    r"|たった今|今日|昨日|一昨日|本日"
)
# Reading time moves with the article's length, never with its headline.
_READING_TIME = (
    r"(?i:\d{1,3}\s?(?:-\s?\d{1,3}\s?)?(?:mins?|minutes?)\s(?:read|reading))"
    r"|読了(?:時間)?(?:目安)?:?\s?(?:約)?\d{1,3}\s?分|(?:約)?\d{1,3}\s?分で読(?:める|めます)"
)
# A counting noun: what a counter counts. 数 / 回数 may follow it (閲覧数, 再生回数).
_COUNT_NOUN = (
    r"(?:(?i:views?|page\s?views?|pv|reads?|likes?|shares?|comments?|plays?|bookmarks?"
    r"|reactions?)|閲覧|表示|視聴|再生|いいね!?|コメント|シェア|ビュー|ブックマーク|はてブ|スキ)"
)
_COUNTER_ICON = "(?:👁\ufe0f?|👀|💬|❤\ufe0f?|♥|♡|🔥|👍|⭐|★|☆|🔖)"
_COUNTER = (
    rf"{_AMOUNT}\s?(?:[回件]\s?(?:の\s?)?)?{_COUNT_NOUN}数?"
    rf"|(?:{_COUNT_NOUN}(?:回?数)?|{_COUNTER_ICON})\s?:?\s?{_AMOUNT}(?:\s?(?:[回件人]|{_COUNT_NOUN}))?"
)
_BADGE = (
    r"NEW!{0,3}|(?i:new)!{1,3}|UP!{0,3}|(?i:up)!{1,3}|HOT!{0,3}|UPDATED!?"
    r"|更新!?|新着!?|速報!?|注目!?|🆕|🆙|🔥NEW"
)
# Labels that are words too (Apple PR, Google 広告): dropped only before the text, or in
# brackets of their own, where a theme puts them.
_LEADING_LABEL = r"PR|AD|Ad|Sponsored|SPONSORED|広告|スポンサー|提供"
_VOLATILE_BODY = f"(?:{_RELATIVE_TIME}|{_READING_TIME}|{_COUNTER}|{_BADGE})"
# Brackets, and the symbols themes set on both sides of a badge (★NEW★, ■速報■).
_DECORATIONS = "★☆■□◆◇●○"
_OPENERS, _CLOSERS = "[【［(（<＜〈《〔〖" + _DECORATIONS, "]】］)）>＞〉》〕〗" + _DECORATIONS
_OPEN, _CLOSE = f"[{re.escape(_OPENERS)}]", f"[{re.escape(_CLOSERS)}]"
# Inside brackets of its own a badge may take any case: [New], (updated), [LIVE].
_BRACKETED_BADGE = r"(?i:new|up|hot|updated?|live|breaking)!{0,3}"
_BRACKETED = f"{_OPEN}\\s?(?:{_VOLATILE_BODY}|{_LEADING_LABEL}|{_BRACKETED_BADGE})\\s?{_CLOSE}"
# A badge with a colon, before the text (速報：…, UPDATE: …, Breaking: …): glued or apart.
_BADGE_COLON = f"(?:{_BADGE}|{_LEADING_LABEL}|(?i:update|updated|breaking))\\s?:"
VOLATILE_FRAGMENT = re.compile(f"{_VOLATILE_BODY}|{_BRACKETED}")
"""One volatile fragment, whole (``fullmatch`` on its NFKC form, whitespace folded)."""
LEADING_FRAGMENT = re.compile(f"{_VOLATILE_BODY}|{_BRACKETED}|{_LEADING_LABEL}|{_BADGE_COLON}")
"""What may be dropped before a field's text: any fragment, and the word labels."""

_BRACKETED_FRAGMENT = re.compile(_BRACKETED)
_BADGE_COLON_FRAGMENT = re.compile(_BADGE_COLON)
_SEPARATOR = re.compile(r"[|｜/／・·•:：\-–—]+")
_CHUNK = re.compile(r"\s+|\S+")
_MAX_FRAGMENT = 40  # characters: longer than anything the patterns match
_MAX_WORDS = 4  # a fragment spans at most this many words ("3 minutes ago", "閲覧数 : 52")


def _matches(pattern: re.Pattern[str], candidate: str) -> bool:
    """Whether ``candidate``'s NFKC form (whitespace folded) is wholly one fragment."""
    return pattern.fullmatch(" ".join(visible_form(candidate).split())) is not None


def is_volatile(fragment: str) -> bool:
    """Whether ``fragment`` is, as a whole, a relative time, a counter or a badge."""
    if len(fragment) > 4 * _MAX_FRAGMENT:  # even with its whitespace not yet folded
        return False
    return _matches(VOLATILE_FRAGMENT, fragment)


def is_leading_volatile(fragment: str) -> bool:
    """Whether ``fragment`` may be dropped before a field's text (a word label: PR, 広告)."""
    return len(fragment) <= 4 * _MAX_FRAGMENT and _matches(LEADING_FRAGMENT, fragment)


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
    """How many chunks at that end form the longest volatile fragment (0: none do).

    The longest, not the shortest: "Updated 3 hours ago" is one fragment, and stopping at
    "3 hours ago" would leave "Updated" behind as if it were the headline's last word.
    """
    picked: list[str] = []
    length = words = best = 0
    pattern = VOLATILE_FRAGMENT if tail else LEADING_FRAGMENT
    for offset in range(min(len(kept), 2 * _MAX_WORDS)):
        chunk = kept[-1 - offset] if tail else kept[offset]
        space = chunk.isspace()
        length += 1 if space else len(chunk)
        words += not space
        if length > _MAX_FRAGMENT or words > _MAX_WORDS:
            break
        picked.append(" " if space else chunk)
        if not space and _matches(pattern, "".join(picked[::-1] if tail else picked)):
            best = offset + 1
    return best


def _cut_bracketed(kept: deque[str], *, tail: bool) -> bool:
    """Cut a bracketed fragment glued to the edge word (``【NEW】見出し``, ``見出し(3分前)``,
    ``★NEW★見出し``), or a badge and its colon glued before it (``速報：見出し``)."""
    if not kept:
        return False
    word = kept[-1] if tail else kept[0]
    if tail:
        if word[-1] not in _CLOSERS:
            return False
        start = max(0, len(word) - _MAX_FRAGMENT)
        opening = max(word.rfind(char, start, len(word) - 1) for char in _OPENERS)
        if opening <= 0 or not _matches(_BRACKETED_FRAGMENT, word[opening:]):
            return False
        kept[-1] = word[:opening]
        return True
    end = _glued_head(word)
    if not end:
        return False
    kept[0] = word[end:]
    return True


def _glued_head(word: str) -> int:
    """Where the text starts after a bracketed fragment or a badge and colon (0: none)."""
    head = word[:_MAX_FRAGMENT]
    if word[0] in _OPENERS:
        closing = next((i for i, char in enumerate(head[1:], 1) if char in _CLOSERS), 0)
        if closing and _matches(_BRACKETED_FRAGMENT, word[: closing + 1]):
            return closing + 1 if closing + 1 < len(word) else 0
    colon = next((i for i, char in enumerate(head[:12]) if char in ":："), 0)
    if colon and colon + 1 < len(word) and _matches(_BADGE_COLON_FRAGMENT, word[: colon + 1]):
        return colon + 1
    return 0


# A relative time or counter glued to the end of a field ("見出し48分前"): how older
# extractors stored ``<span>見出し</span><span>48分前</span>``. Only forms with a number,
# so a headline that merely ends in words such as 今日 keeps them.
_GLUED_TAIL = re.compile(
    rf"(?:(?:約|およそ)?\d{{1,9}}\s?{_AGO_UNIT}前(?:に?(?:更新|公開|投稿))?|{_COUNTER})$"
)


def without_volatile_edges(text: str) -> str:
    """``text`` as compared (NFKC): volatile fragments at its edges do not count.

    :func:`strip_volatile_edges`, then a numbered relative time or counter glued to the
    end, as archives written before fragments were separated hold them (comparing only:
    stored text keeps what was published). Linear: only the last characters are tried.
    """
    text = visible_form(text)
    edges = text.strip()
    if not edges or (edges[0] not in _FRAGMENT_STARTS and edges[-1] not in _FRAGMENT_ENDS):
        return text  # the common case, decided in a few hundred nanoseconds
    text = strip_volatile_edges(text)
    if not text or text[-1] not in _FRAGMENT_ENDS:
        return text
    tail = text[-_MAX_FRAGMENT:]
    glued = _GLUED_TAIL.search(tail, 1)  # never the whole text: a field is not only that
    return text[: len(text) - len(tail) + glued.start()].rstrip() if glued else text


# The characters a volatile fragment can begin or end with, in NFKC form (a cheap test
# that most texts, ending in 。 or a word, fail at once): ASCII letters and digits (NEW,
# views, 3 hours ago), brackets, icons, and the first or last characters of the Japanese
# forms. tests/test_text_volatile.py checks every example fragment against them.
_ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ICONS = "👁👀💬❤♥♡🔥👍⭐★☆🔖🆕🆙\ufe0f" + _DECORATIONS
_FRAGMENT_STARTS = frozenset(
    _ASCII
    + _ICONS
    + _OPENERS
    + "[(<約お最更公投配掲た今昨一本読閲表視再いコシビブはス新速注広提数十"
)
_FRAGMENT_ENDS = frozenset(
    _ASCII
    + _ICONS
    + _CLOSERS
    + "])>!+前新着日今回件人覧数示ねトアー稿開信載た生聴クブキ分るす報目告供万千億"
)
