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
