"""Decoding a page whose charset label may be wrong, without inventing edits.

A listing decoded with the wrong charset reads as mojibake, and every item on it then
looks edited: one mislabelled response would rewrite the whole topic's history. Browsers
trust the label; an archive cannot afford to, so the bytes decide when they can:

1. bytes that are valid UTF-8 are UTF-8, whatever the label (Shift_JIS or EUC-JP text of
   any length is practically never valid UTF-8);
2. else the declared encoding, Shift_JIS read as Windows-31J as browsers do, if clean;
3. else, for a UTF-8 or Japanese label, EUC-JP or Windows-31J if one decodes cleanly
   (EUC-JP first: Shift_JIS bytes are invalid EUC-JP far sooner than the reverse);
4. else the declared decoding with U+FFFD for the bad bytes, flagged ``lossy`` so the
   spider treats the garbled fields as not observed.

The crawl and ``topicwatch reparse`` must decode alike, so both should call this.
"""

from __future__ import annotations

import codecs
from typing import NamedTuple

from crawler.text import browser_decode

_LEGACY_JAPANESE = ("euc_jp", "cp932")
_RESCUABLE_LABELS = frozenset(
    {"utf-8", "ascii", "shift_jis", "cp932", "shift_jis_2004", "shift_jisx0213", "euc_jp",
     "euc_jis_2004", "euc_jisx0213", "iso2022_jp"}
)  # fmt: skip


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


def _label(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return ""
