"""Benchmark rows, the printed table, and their section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Row:
    """One measured figure against its same-run baseline."""

    what: str
    baseline: str
    measured: str
    ratio: float
    target: str
    met: bool


def table(rows: list[Row]) -> str:
    lines = [
        "| what | baseline (same run) | measured | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.what} | {r.baseline} | {r.measured} | {r.ratio:.2f}× | {r.target} |"
        f" {'yes' if r.met else '**no**'} |"
        for r in rows
    ]
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def write_section(name: str, title: str, rows: list[Row], notes: str, quick: bool) -> None:
    """Replace (or append) the named section of docs/benchmarks.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m bench --only " + name + (" --quick" if quick else "")
    body = (
        f"<!-- bench:{name} -->\n## {title}\n\n{table(rows)}\n\n{notes.strip()}\n\n"
        f"Measured {stamp} on {machine()} with `{command}`.\n<!-- /bench:{name} -->"
    )
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else _HEADER
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text + "\n" + body + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_HEADER = """# Benchmarks

Produced by `python -m bench` (or `make bench`); each section is rewritten by its own
benchmark. Every figure is a ratio to a baseline measured in the same run.
"""
