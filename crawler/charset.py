"""Decoding a page whose charset label may be wrong, without inventing edits.

A listing decoded with the wrong charset reads as mojibake, and every item on it then
looks edited: one mislabelled response would rewrite the whole topic's history. Browsers
trust the label; an archive cannot afford to, so the bytes decide when they can:

1. bytes that are valid UTF-8 are UTF-8, whatever the label (Shift_JIS or EUC-JP text of
   any length is practically never valid UTF-8);
2. bytes that are *mostly* UTF-8 are UTF-8 with U+FFFD for the few bad bytes, flagged
   ``lossy``: at least :data:`_MIN_SEQUENCES` valid multi-byte sequences, and at least
   :data:`_MIN_RATIO` of them per invalid one (each U+FFFD the decoder puts in). A stray
   byte in a UTF-8 page (a comment, an excerpt a CMS cut inside a character) must not
   hand the page to a legacy decoding that reads it "cleanly" as mojibake. The numbers
   are measured, not guessed: Shift_JIS and EUC-JP Japanese pages form 0.15–0.36 valid
   UTF-8 sequences per invalid one (every listing fixture), no stretch of 8 or more
   characters of the seed text reaches 4, and a UTF-8 page with a few bad bytes has
   hundreds or thousands;
3. else the declared encoding, Shift_JIS read as Windows-31J as browsers do, if clean;
4. else, for a UTF-8 or Japanese label, EUC-JP or Windows-31J if one decodes cleanly
   (EUC-JP first: Shift_JIS bytes are invalid EUC-JP far sooner than the reverse);
5. else the declared decoding with U+FFFD for the bad bytes, flagged ``lossy``.

A ``lossy`` page's fields holding U+FFFD are treated as not observed by the spider.
The crawl and ``topicwatch reparse`` must decode alike, so both should call this.
"""

from __future__ import annotations

import codecs
from typing import NamedTuple

from topicwatch.crawler.text import browser_decode

_LEGACY_JAPANESE = ("euc_jp", "cp932")
_RESCUABLE_LABELS = frozenset(
    {"utf-8", "ascii", "shift_jis", "cp932", "shift_jis_2004", "shift_jisx0213", "euc_jp",
     "euc_jis_2004", "euc_jisx0213", "iso2022_jp"}
)  # fmt: skip
_MIN_SEQUENCES = 8
_MIN_RATIO = 4


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
    mostly_utf8 = _mostly_utf8(body)
    if mostly_utf8 is not None:
        return Decoded(mostly_utf8, True)
    declared = browser_decode(body, encoding, fallback)
    if "\ufffd" not in declared:
        return Decoded(declared, False)
    if _label(encoding) in _RESCUABLE_LABELS:
        for name in _LEGACY_JAPANESE:
            try:
                return Decoded(body.decode(name), False)
            except UnicodeDecodeError:
                continue
    return Decoded(declared, True)


def _mostly_utf8(body: bytes) -> str | None:
    """``body`` as UTF-8 with U+FFFD for bad bytes, if its bytes say UTF-8 (rule 2)."""
    text = body.decode("utf-8-sig", errors="replace")
    invalid = text.count("\ufffd") - body.count("\ufffd".encode())
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    sequences = non_ascii - invalid  # each non-ASCII character read is one valid sequence
    if sequences >= max(_MIN_SEQUENCES, _MIN_RATIO * invalid):
        return text
    return None


def _label(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return ""
