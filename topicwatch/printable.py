"""Text made safe to show: one rule for every command's output and the daemon's log.

Archived text, URLs and error messages come from strangers, and whatever reads them obeys
control characters: a terminal runs ``ESC ] 52`` (write the clipboard), ``ESC ] 0`` (the
window title) and ``ESC [ 8m`` (hide what follows); a log reader takes a line break for a
new record, so a site could forge a daemon log line ("log injection"). :func:`printable`
shows as Python escapes (``\\x1b``, ``\\u202e``) the C0 and C1 controls and DEL, the line
and paragraph separators (U+2028/9), the bidirectional embeddings, overrides and isolates
(which reorder what follows: "Trojan Source"), the noncharacters U+FDD0–U+FDEF (the
command line's style marks, which a page must not forge) and lone surrogates (bytes of an
argument or a file name that were not UTF-8, which no stream can encode). :func:`to_json`
escapes the same characters as ``\\u`` escapes, so JSON carries the same data once parsed.
Zero-width joiners and other format characters are left alone: emoji sequences need them
and they move no cursor. Standard library only: the daemon imports this.
"""

from __future__ import annotations

import json
import re
from typing import Any

# DEL, C1, the separators and bidi controls, lone surrogates; C0 comes on top (json
# escapes it itself).
_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x1f{_BEYOND_C0}\ufdd0-\ufdef]")
_UNSAFE_IN_JSON = re.compile(f"[{_BEYOND_C0}]")


def printable(text: str) -> str:
    """``text`` with every character that acts on a terminal (or a log) shown as an escape."""
    return _UNSAFE.sub(_escape, text)


def printable_lines(text: str) -> str:
    """:func:`printable` line by line: line breaks kept (CSV, Atom, a traceback)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def to_json(data: Any, *, indent: int | None = 2, default: Any = None) -> str:
    """JSON with Japanese left readable and terminal controls escaped (``\\u2028``);
    ``default`` as for :func:`json.dumps`."""
    text = json.dumps(data, ensure_ascii=False, indent=indent, default=default)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
