"""Decoding a page whose charset label may be wrong, without inventing edits.

A listing decoded with the wrong charset reads as mojibake, and every item on it then
looks edited: one mislabelled response would rewrite the whole topic's history. Browsers
trust the label; an archive cannot afford to, so the bytes decide:

1. bytes that are valid UTF-8 are UTF-8, whatever the label (Shift_JIS or EUC-JP text of
   any length is practically never valid UTF-8);
2. a page labelled with another codec (GBK, Big5, EUC-KR…) that decodes cleanly keeps
   its label: the scoring below knows Japanese text, not theirs;
3. else every candidate decoding is read and scored, and the one that reads most like
   text wins: the declared one (Shift_JIS read as Windows-31J, as browsers do), UTF-8,
   EUC-JP and Windows-31J, each with U+FFFD for the bytes it cannot read. A candidate
   scores a point per character a Japanese text is made of (kana, CJK punctuation,
   full-width forms, and the 2,965 common kanji of JIS level 1, at most two per kana) and
   loses one per character mojibake is made of (half-width katakana, private-use and C1
   control characters, Greek and Cyrillic, rare kanji: the debris of multi-byte text split
   at the wrong bytes) and four per byte it could not read. Latin letters count for
   nothing either way, so a Western page keeps its declared decoding unless a Japanese
   reading beats it; a tie goes to the declared decoding, then to UTF-8.

Scoring rather than a fixed order is what makes every mislabelling one rule: UTF-8 with a
few invalid bytes labelled Shift_JIS (its UTF-8 reading keeps all its kana and kanji; the
Shift_JIS reading is half-width katakana and rare kanji), Shift_JIS or EUC-JP labelled
UTF-8 or windows-1252 (a Latin-1 reading of Japanese bytes scores nothing, however
cleanly it decodes), EUC-JP labelled Shift_JIS, a short page.

The page is ``lossy`` when the chosen decoding replaced bytes with U+FFFD; a lossy page's
fields holding U+FFFD are treated as not observed by the spider. The crawl and
``topicwatch reparse`` must decode alike, so both call this.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import NamedTuple

from topicwatch.crawler.text import browser_decode, decode_cp932

_CANDIDATES = ("utf-8-sig", "euc_jp")
# Labels whose pages are scored: the ones Japanese pages are mislabelled with (UTF-8, the
# Japanese codecs, the Western defaults). Another label that decodes cleanly (a Chinese or
# Korean site's) is trusted: the scoring knows Japanese text, not theirs.
_SCORED_LABELS = frozenset(
    {"utf-8", "utf-8-sig", "ascii", "shift_jis", "cp932", "shift_jis_2004", "shift_jisx0213",
     "euc_jp", "euc_jis_2004", "euc_jisx0213", "iso2022_jp", "cp1252", "iso8859-1",
     "iso8859-15", ""}
)  # fmt: skip
_UNREADABLE_COST = 4  # points per byte a decoding could not read
_REPLACEMENT = "\ufffd"


class Decoded(NamedTuple):
    """A page's text, and whether undecodable bytes were replaced with U+FFFD."""

    text: str
    lossy: bool


def decode_page(body: bytes, encoding: str, fallback: str) -> Decoded:
    """Decode ``body`` (labelled ``encoding``; ``fallback`` is the HTTP library's text)."""
    try:
        return Decoded(body.decode("utf-8-sig"), False)
    except UnicodeDecodeError:
        pass
    published = body.count(_REPLACEMENT.encode())  # U+FFFD the page itself holds
    declared = browser_decode(body, encoding, fallback)
    if _label(encoding) not in _SCORED_LABELS and declared.count(_REPLACEMENT) <= published:
        return Decoded(declared, False)  # GBK, Big5, EUC-KR… read cleanly: nothing to rescue
    candidates = [declared]
    candidates += [body.decode(codec, errors="replace") for codec in _CANDIDATES]
    candidates.append(decode_cp932(body))
    best = max(candidates, key=lambda text: plausibility(text, published))  # first wins ties
    return Decoded(best, best.count(_REPLACEMENT) > published)


def plausibility(text: str, published: int = 0) -> int:
    """How much ``text`` reads like a page rather than mojibake (see the module's rule 3).

    Common kanji count at most twice the kana beside them: Japanese prose always has kana,
    while a Western page read as Shift_JIS turns ``’s`` and ``“T`` into common kanji and
    never into kana. ``published`` U+FFFD characters are the page's own, not the decoder's.
    """
    unreadable = max(0, text.count(_REPLACEMENT) - published)
    kana = len(_TEXTLIKE.findall(text))
    kanji = len(_common_kanji().findall(text))
    debris = len(_DEBRIS.findall(text)) + len(_RARE.findall(text)) - kanji
    return kana + min(kanji, 2 * kana) - debris - _UNREADABLE_COST * unreadable


# Kana, CJK punctuation and symbols, full-width ASCII forms.
_TEXTLIKE = re.compile("[\u3000-\u30ff\uff01-\uff5e]")
# Half-width katakana, private use, C1 controls, Greek and Cyrillic: what multi-byte text
# split at the wrong bytes decodes into (Shift_JIS rows 0x83 and 0x84 are Greek and
# Cyrillic, and UTF-8 continuation bytes are 0x80-0xBF).
_DEBRIS = re.compile("[\uff61-\uff9f\ue000-\uf8ff\x80-\x9f\u0370-\u04ff]")
# Every CJK ideograph; the common ones are subtracted again: rare kanji count as debris.
_RARE = re.compile("[\u4e00-\u9fff]")


@lru_cache(maxsize=1)
def _common_kanji() -> re.Pattern[str]:
    """JIS X 0208 level 1 kanji (Shift_JIS 0x889F–0x9872), the kanji of everyday text.

    Mojibake of UTF-8 read as Shift_JIS lands mostly on level 2 (UTF-8 lead bytes
    0xE3–0xE9 are level-2 lead bytes there); Japanese prose is mostly level 1.
    """
    chars = []
    for lead in range(0x88, 0x99):
        for trail in range(0x40, 0xFD):
            code = lead << 8 | trail
            if trail != 0x7F and 0x889F <= code <= 0x9872:
                char = bytes((lead, trail)).decode("cp932", errors="ignore")
                chars.append(char)
    return re.compile("[" + re.escape("".join(chars)) + "]")


def _label(encoding: str) -> str:
    """The codec name of a label ("" for a label Python does not know)."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return ""
