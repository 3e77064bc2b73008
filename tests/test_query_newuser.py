"""What a new user hit in the analysts' commands: a reversed window that printed nothing,
gaps on a hand-crawled archive, CSV a spreadsheet garbles, colour despite NO_COLOR.

All against copies of the real story archive (tests/query_archive.py).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner
from query_archive import NOW, invoke, invoke_json, story_copy

from topicwatch.cli import cli

WINDOWED = [("changes",), ("export",), ("search", "北極圏")]
TABULAR = [("changes", "--since", "30d"), ("search", "北極圏"), ("gaps",), ("asof", "2026-02-02")]
TABULAR += [("topics",)]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_copy(tmp_path_factory.mktemp("newuser"))[1]


@pytest.mark.parametrize("command", WINDOWED)
def test_a_reversed_window_is_one_line_and_exit_2(db, command):
    result = invoke(db, *command, "--since", "7d", "--until", "14d")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Error: --since 7d is after --until 14d: the window is empty"
        " (--since is the older moment, e.g. --since 14d --until 7d)\n"
    )


def test_changes_since_and_until_are_explained_in_help(db):
    text = invoke(db, "changes", "--help").stdout
    assert "Only changes at or after WHEN" in text and "Only changes at or before WHEN" in text


def test_export_until_keeps_older_entries_only(db):
    every = [e["at"] for e in map(_json, invoke(db, "export").stdout.splitlines())]
    until = "2026-02-02T00:00:00+00:00"
    kept = [e["at"] for e in map(_json, invoke(db, "export", "--until", until).stdout.splitlines())]
    assert kept and kept == [at for at in every if at <= until]
    assert len(kept) < len(every)
    assert "Only changes at or before WHEN" in invoke(db, "export", "--help").stdout


def _json(line: str) -> dict:
    import json

    return json.loads(line)


@pytest.mark.parametrize("command", TABULAR)
def test_excel_is_the_csv_with_a_bom_and_crlf(db, command):
    plain = invoke(db, *command, "--csv")
    excel = invoke(db, *command, "--excel")
    assert plain.exit_code == excel.exit_code == 0, excel.output
    assert excel.stdout_bytes.startswith(b"\xef\xbb\xbf")
    text = excel.stdout_bytes.decode("utf-8").removeprefix("\ufeff")  # .stdout drops \r
    assert text.replace("\r\n", "\n") == plain.stdout
    assert text.count("\r\n") == text.count("\n") > 1
    assert "--excel" in invoke(db, command[0], "--help").stdout


def test_export_format_excel(db):
    plain = invoke(db, "export", "--format", "csv").stdout
    excel = invoke(db, "export", "--format", "excel").stdout_bytes.decode("utf-8")
    assert excel.startswith("\ufeff") and excel[1:].replace("\r\n", "\n") == plain
    assert excel.count("\r\n") == excel.count("\n")
    rows = list(csv.DictReader(io.StringIO(excel.removeprefix("\ufeff"))))
    assert rows and "entry_id" in rows[0]


def test_no_color_is_honoured(db):
    with time_machine.travel(NOW, tick=False):
        args = ["search", "北極圏", "--db", str(db)]
        coloured = CliRunner().invoke(cli, args, color=True)
        plain = CliRunner().invoke(cli, args, color=True, env={"NO_COLOR": "1"})
        empty = CliRunner().invoke(cli, args, color=True, env={"NO_COLOR": ""})
    assert "\x1b[" in coloured.stdout and "\x1b[" in empty.stdout  # empty: not set
    assert "\x1b[" not in plain.stdout
    assert plain.stdout == coloured.stdout.replace("\x1b[33m\x1b[1m", "").replace("\x1b[0m", "")


def test_gaps_on_a_hand_crawled_archive_with_a_stopped_run(tmp_path):
    """A manually crawled archive printed "no run for 0m (usual interval 0m)", and a
    crawl stopped with Ctrl-C was counted as a failure."""
    db = story_copy(tmp_path)[1]
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE crawl_runs SET trigger = 'manual'")
        conn.execute(
            "UPDATE crawl_runs SET status = 'aborted', reason = 'shutdown',"
            " error = 'crawl stopped before finishing (shutdown)' WHERE status = 'failed'"
        )
    conn.close()
    gaps = invoke_json(db, "gaps")
    assert [g["kind"] for g in gaps] == ["page-limit"]
    assert all("0m" not in g["detail"] for g in gaps)
