"""Output shared by the query commands: ``--json``/``--csv`` options and a CJK-aware table.

Like sqlite-utils' ``output_options``: every tabular command takes the same flags and
hands its rows here. JSON carries whole objects for scripts; the table is for people,
so it truncates long cells and counts full-width characters as two columns.

Cells may mark styled runs with :data:`HIGHLIGHT`, :data:`DELETED` or :data:`INSERTED`
up to :data:`END`; widths ignore the marks, and ANSI styles replace them when printed
(click strips the styles when the output is not a terminal).
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click

HIGHLIGHT, DELETED, INSERTED, END = "\x01", "\x03", "\x04", "\x02"
_STYLES: dict[str, dict[str, Any]] = {
    HIGHLIGHT: {"fg": "yellow", "bold": True},
    DELETED: {"fg": "red"},
    INSERTED: {"fg": "green"},
}
_MARKS = (HIGHLIGHT, DELETED, INSERTED, END)


def output_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` and ``--csv``: the command receives ``fmt`` = "json", "csv" or "table"."""
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
    elif fmt == "csv":
        click.echo(to_csv(rows), nl=False)
    else:
        for line in table(rows, columns):
            click.echo(styled(line))


def to_json(data: Any) -> str:
    """Indented JSON with Japanese left readable."""
    return json.dumps(data, ensure_ascii=False, indent=2)


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV of every key of the rows; lists are joined with commas."""
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
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
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return " ".join(str(value).split())


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
    """Replace marks by ANSI styles."""
    out: list[str] = []
    style: str | None = None
    run: list[str] = []
    for char in line + END:
        if char not in _MARKS:
            run.append(char)
            continue
        text = "".join(run)
        out.append(click.style(text, **_STYLES[style]) if style and text else text)
        style, run = (None if char == END else char), []
    return "".join(out)


def mark(text: str, spans: Iterable[tuple[int, int]], kind: str = HIGHLIGHT) -> str:
    """``text`` with the given character spans marked."""
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], kind, text[start:end], END]
        last = end
    return "".join([*out, text[last:]])
