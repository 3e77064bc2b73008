"""Output shared by the query commands: ``--json``/``--csv`` options and a CJK-aware table.

Like sqlite-utils' ``output_options``: every tabular command takes the same flags and
hands its rows here. JSON carries whole objects for scripts; the table is for people,
so it truncates long cells and counts full-width characters as two columns.

Archived text comes from strangers, and a terminal obeys what it is sent: everything
shown to a person passes through :func:`topicwatch.printable.printable` — table cells,
:func:`styled` lines, :func:`say`, error messages — and CSV or Atom written to a
terminal too; JSON escapes the same characters (:func:`topicwatch.printable.to_json`);
the archive keeps what was published. The daemon's log uses the same rule.

Cells may mark styled runs with :data:`HIGHLIGHT`, :data:`DELETED` or :data:`INSERTED`
up to :data:`END`; widths ignore the marks, and ANSI styles replace them when printed
(click strips the styles when the output is not a terminal). The marks are Unicode
noncharacters, kept for a program's internal use, and :func:`printable` escapes them in
text, so a page cannot forge one; :class:`Marked` strings carry marks and escaped text.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click

from topicwatch.printable import printable, printable_lines, to_json

HIGHLIGHT, DELETED, INSERTED, END = "\ufdd0", "\ufdd1", "\ufdd2", "\ufdd3"
_STYLES: dict[str, dict[str, Any]] = {
    HIGHLIGHT: {"fg": "yellow", "bold": True},
    DELETED: {"fg": "red"},
    INSERTED: {"fg": "green"},
}
_MARKS = (HIGHLIGHT, DELETED, INSERTED, END)
EXCEL_BOM = "\ufeff"
_BLANKS = re.compile("[\t\n\r\f\v \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


class Marked(str):
    """Text made printable and carrying style marks (from :func:`mark`, diffs)."""

    __slots__ = ()


def say(line: str, *, err: bool = False) -> None:
    """Print one line for a person: marks styled, everything else :func:`printable`."""
    click.echo(styled(line), err=err)


def to_terminal() -> bool:
    """Whether standard output is a terminal (a person will see raw bytes act on it)."""
    return sys.stdout.isatty()


class Problem(click.ClickException):
    """A one-line error with exit status 2, like a usage error but without the usage.

    The message is shown :func:`printable`: it may quote archived text or a path.
    """

    exit_code = 2

    def format_message(self) -> str:
        return printable(self.message)


def output_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``, ``--csv`` and ``--excel``: the command receives ``fmt`` = "json", "csv",
    "excel" or None (a table)."""
    function = click.option(
        "--excel",
        "fmt",
        flag_value="excel",
        help="Print CSV for spreadsheets: UTF-8 BOM (Excel reads Japanese) and CRLF.",
    )(function)
    function = click.option("--csv", "fmt", flag_value="csv", help="Print CSV with a header row.")(
        function
    )
    return click.option("--json", "fmt", flag_value="json", help="Print a JSON array of objects.")(
        function
    )


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` alone, for commands whose output is one nested object."""
    return click.option("--json", "fmt", flag_value="json", help="Print a JSON object.")(function)


@dataclass(frozen=True)
class Column:
    """A table column: the row key, its header and a maximum display width."""

    key: str
    header: str
    width: int | None = None


def emit(rows: Sequence[Mapping[str, Any]], fmt: str | None, columns: Sequence[Column]) -> None:
    """Print rows as JSON, CSV (every key) or a table (``columns``, marks styled)."""
    if fmt == "json":
        click.echo(to_json(list(rows)))
    elif fmt in ("csv", "excel"):
        text = to_csv(rows, excel=fmt == "excel")
        click.echo(printable_lines(text) if to_terminal() else text, nl=False)
    else:
        for line in table(rows, columns):
            say(line)


def to_csv(rows: Sequence[Mapping[str, Any]], *, excel: bool = False) -> str:
    """CSV of every key of the rows; lists are joined with commas.

    ``excel``: a UTF-8 byte order mark first and CRLF line ends, as Excel needs to open a
    double-clicked file as UTF-8 (without the mark it reads Shift_JIS or cp1252: mojibake).
    """
    if not rows:
        return EXCEL_BOM if excel else ""
    buffer = io.StringIO()
    buffer.write(EXCEL_BOM if excel else "")
    ending = "\r\n" if excel else "\n"
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator=ending)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _flat(value) for key, value in row.items()})
    return buffer.getvalue()


def _flat(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else value


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> list[str]:
    """Lines of an aligned table (marks kept); "(none)" when there are no rows."""
    cells = [
        [truncate(_cell(row.get(column.key)), column.width) for column in columns] for row in rows
    ]
    if not cells:
        return ["(none)"]
    headers = [column.header for column in columns]
    widths = [max(width(text) for text in column) for column in zip(headers, *cells, strict=False)]
    lines = []
    for values in [headers, ["-" * w for w in widths], *cells]:
        padded = [text + " " * (w - width(text)) for text, w in zip(values, widths, strict=True)]
        lines.append("  ".join(padded).rstrip())
    return lines


def _cell(value: Any) -> str:
    """One table cell: blanks folded to one space (rows stay one line), made printable."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = ",".join(map(str, value))
    folded = _BLANKS.sub(" ", str(value)).strip(" ")
    return folded if isinstance(value, Marked) else printable(folded)


def width(text: str) -> int:
    """Display width: full-width and wide characters take two columns, marks none."""
    total = 0
    for char in text:
        if char in _MARKS or unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def truncate(text: str, limit: int | None) -> str:
    """Cut ``text`` to ``limit`` display columns with an ellipsis, closing an open mark."""
    if limit is None or width(text) <= limit:
        return text
    kept, used, open_mark = [], 0, False
    for char in text:
        if char in _MARKS:
            kept.append(char)
            open_mark = char != END
            continue
        step = width(char)
        if used + step > limit - 1:
            break
        kept.append(char)
        used += step
    return "".join(kept) + (END if open_mark else "") + "…"


def styled(line: str) -> str:
    """Replace marks by ANSI styles; the text between them is made :func:`printable`."""
    out: list[str] = []
    style: str | None = None
    run: list[str] = []
    for char in line + END:
        if char not in _MARKS:
            run.append(char)
            continue
        text = printable("".join(run))
        out.append(click.style(text, **_STYLES[style]) if style and text else text)
        style, run = (None if char == END else char), []
    return "".join(out)


def mark(text: str, spans: Iterable[tuple[int, int]], kind: str = HIGHLIGHT) -> Marked:
    """``text``, made printable, with the given character spans (of ``text``) marked."""
    out, last = [], 0
    for start, end in spans:
        out += [printable(text[last:start]), kind, printable(text[start:end]), END]
        last = end
    return Marked("".join([*out, printable(text[last:])]))


def short_time(value: str | None) -> str:
    """``2026-02-01T06:00:00+00:00`` as ``2026-02-01 06:00Z`` for tables."""
    if not value:
        return ""
    return value[:16].replace("T", " ") + ("Z" if value.endswith("+00:00") else "")
