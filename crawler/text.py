"""Cleaning text taken from pages: markup stripped, whitespace folded, nothing else.

Stored text stays as published (no NFKC here; that is only for comparison, see
:mod:`archive.text`). HTML whitespace (space, tab, newline) is folded because HTML rendering
folds it: the text an analyst sees on the page has single spaces there; a full-width space
(U+3000) is no HTML whitespace and is kept. Every extracted text passes :func:`clean_text`,
so every text the extractor returns is valid Unicode: a lone surrogate (half of a UTF-16
pair, which JSON-LD's ``"\\ud800"`` escapes can produce when a CMS cuts a string inside an
emoji) encodes no character and cannot be stored, so it is dropped; U+FFFD would instead
make a publisher's encoder bug read as an edit of the text around it.
"""

from __future__ import annotations

import codecs
import re
import warnings
from collections.abc import Iterable

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

from topicwatch.archive.text import strip_volatile_chunks, text_chunks

# Zero-width characters render as nothing; lone surrogates are no characters at all (a
# str from bytes never holds one: any surrogate code point in a str is unpaired).
_ZERO_WIDTHS, _SURROGATES = "\u200b\u200c\u200d\u2060\ufeff", "\ud800-\udfff"
_INVISIBLE = re.compile(f"[{_ZERO_WIDTHS}{_SURROGATES}]")
_LONE_SURROGATE = re.compile(f"[{_SURROGATES}]")


# HTML's whitespace (WHATWG "ASCII whitespace"): the only characters a browser folds. A
# full-width space (U+3000) or a no-break space is a character the writer typed and the
# reader sees, so it is stored as published (comparison ignores it: archive.text).
_HTML_SPACE = re.compile("[ \t\n\r\f]+")


def clean_text(text: str) -> str:
    """Fold runs of HTML whitespace to one space as a browser does, and trim every kind of
    whitespace at the field's edges (template indentation, not text); drop zero-widths and
    lone surrogates. U+3000 and no-break spaces inside the text stay as published."""
    return _HTML_SPACE.sub(" ", _INVISIBLE.sub("", text)).strip()


def valid_unicode(text: str) -> str:
    """``text`` without lone surrogates, for parsers (lxml ends a document at the first)."""
    return _LONE_SURROGATE.sub("", text)


def has_lone_surrogates(text: str) -> bool:
    """Whether :func:`clean_text` will drop lone surrogates from ``text`` (a repair)."""
    return _LONE_SURROGATE.search(text) is not None


def visible_text(pieces: Iterable[str]) -> str:
    """The text a reader sees in a field made of these text nodes, in document order.

    Volatile fragments at the field's edges (relative times, counters, badges: see
    :func:`archive.text.strip_volatile_edges`) are dropped, an element edge setting a
    fragment apart as whitespace does; then whitespace is folded as by :func:`clean_text`.
    """
    chunks = [chunk for piece in pieces for chunk in text_chunks(_INVISIBLE.sub("", piece))]
    return clean_text("".join(strip_volatile_chunks(chunks)))


def text_from_markup(value: str) -> str:
    """Plain text of a string that may hold HTML (JSON-LD and meta fields often do).

    BeautifulSoup handles entity soup and broken fragments better than a regex would.
    """
    if "<" not in value and "&" not in value:
        return clean_text(value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(valid_unicode(value), "lxml")
    for node in soup(["script", "style"]):
        node.decompose()
    return clean_text(soup.get_text(" "))


# Browsers decode every Shift_JIS label as Windows-31J (WHATWG Encoding Standard), and
# Japanese sites rely on it (①, ～, 髙). Charset sniffing reports shift_jis_2004 instead.
_BROWSER_SUPERSETS = {
    "shift_jis": "cp932", "shift_jis_2004": "cp932", "shift_jisx0213": "cp932", "cp932": "cp932",
}  # fmt: skip
# Python's cp932 reads the bytes 0xA0 and 0xFD-0xFF as private-use U+F8F0-U+F8F3 (a
# Microsoft table); browsers find no character there (U+FFFD). Read as browsers do, a stray
# byte is an unreadable byte, and the page is flagged lossy instead of storing an invisible
# character in a headline.
_CP932_UNDEFINED = {code: "\ufffd" for code in range(0xF8F0, 0xF8F4)}


def decode_cp932(body: bytes) -> str:
    """``body`` as Windows-31J, as browsers read it (U+FFFD for bytes that are no character)."""
    return body.decode("cp932", errors="replace").translate(_CP932_UNDEFINED)


def browser_decode(body: bytes, encoding: str, fallback: str) -> str:
    """Decode as a browser would: ``fallback`` is the HTTP library's own decoding."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return fallback
    return decode_cp932(body) if name in _BROWSER_SUPERSETS else fallback
