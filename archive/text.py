"""Text comparison rules shared by change detection and search.

Text is stored exactly as published; these functions produce the *comparison* form only.
Japanese pages mix full-width and half-width forms (ＡＩ / AI, ２０２６ / 2026) and use
U+3000 ideographic spaces, so a re-rendered page would otherwise look like an edit.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")  # str patterns match U+3000 and other Unicode spaces


def normalise(text: str) -> str:
    """Return the comparison form: NFKC, every run of whitespace folded to one space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def comparison_key(text: str) -> str:
    """The form compared for edits: NFKC with every whitespace character removed.

    Removing (not just folding) whitespace is deliberate: Japanese sets no word spaces, so
    a space appearing after 「、」 or around a Latin name is a rendering change, not an edit.
    """
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text))


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
