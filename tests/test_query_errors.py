"""What every query command promises: read-only, never in a crawl's way, one-line errors.

Also checks WHEN parsing and that every command documents itself with examples.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from conftest import TEST_SETTINGS, child_env, run_crawl
from fixture_site import FixtureSite, make_articles
from query_archive import invoke, story_copy

from topicwatch.archive import open_archive
from topicwatch.archive.moments import BadMoment, parse_moment
from topicwatch.cli import cli

ANALYSTS = ("search", "changes", "history", "asof", "export", "gaps", "serve")
COMMANDS = [cli.get_command(click.Context(cli), name) for name in ANALYSTS]

NOW = datetime(2026, 2, 4, 13, tzinfo=UTC)
QUERIES = [
    ("search", "北極"),
    ("changes",),
    ("history", "1"),
    ("asof", "1h"),
    ("export", "--format", "atom"),
    ("gaps",),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_copy(tmp_path_factory.mktemp("errors"))[1]


def one_line_error(result, starts: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {starts}"), result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


@pytest.mark.parametrize("args", [*QUERIES, ("serve",)])
def test_missing_file(tmp_path, args):
    one_line_error(invoke(tmp_path / "none.db", *args), "archive not found")


@pytest.mark.parametrize("args", [*QUERIES, ("serve",)])
def test_empty_archive(tmp_path, args):
    open_archive(tmp_path / "empty.db").close()
    one_line_error(invoke(tmp_path / "empty.db", *args), "the archive is empty")


def test_not_an_archive(tmp_path):
    (tmp_path / "notes.db").write_text("not sqlite at all " * 100)
    one_line_error(invoke(tmp_path / "notes.db", "changes"), "")


@pytest.mark.parametrize(
    "args",
    [
        ("search", "北極", "--since", "tomorrow-ish"),
        ("search", "北極", "--until", "2026-02-30"),
        ("changes", "--since", "7 days"),
        ("asof", "yesterday"),
        ("export", "--since", "x"),
    ],
)
def test_bad_when(db, args):
    result = invoke(db, *args)
    one_line_error(result, "")
    assert "not a time" in result.stderr


@pytest.mark.parametrize("args", [("search", "x"), ("changes",), ("gaps",), ("asof", "1h")])
def test_unknown_topic(db, args):
    one_line_error(invoke(db, *args, "--topic", "ukraine"), "no topic 'ukraine'")


def test_queries_leave_a_read_only_file_untouched(db, tmp_path):
    target = tmp_path / "ro.db"
    target.write_bytes(db.read_bytes())
    target.chmod(0o444)
    before = hashlib.sha256(target.read_bytes()).hexdigest()
    for args in QUERIES:
        assert invoke(target, *args).exit_code == 0, args
    assert hashlib.sha256(target.read_bytes()).hexdigest() == before


def test_a_reader_never_blocks_a_crawl_nor_sees_half_of_it(tmp_path):
    db = tmp_path / "live.db"
    with FixtureSite() as site:
        assert run_crawl(site.topic_url(), db).returncode == 0
        reader = open_archive(db, readonly=True)
        reader.execute("BEGIN")
        count = reader.execute("SELECT count(*) FROM items").fetchone()[0]
        site.add_articles(make_articles(5))
        done = run_crawl(site.topic_url(), db)  # writes while the reader holds a snapshot
        assert done.returncode == 0 and done.run["items_new"] == 5, done.stderr
        assert reader.execute("SELECT count(*) FROM items").fetchone()[0] == count
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM items").fetchone()[0] == count + 5
        reader.close()


def test_queries_run_while_a_crawl_writes(tmp_path):
    db = tmp_path / "busy.db"
    with FixtureSite() as site:
        assert run_crawl(site.topic_url(), db).returncode == 0
        site.add_articles(make_articles(10))
        command = [sys.executable, "-m", "topicwatch", "crawl", "--url", site.topic_url()]
        command += ["--db", str(db), "--json"]
        for name, value in TEST_SETTINGS.items():
            command += ["-s", f"{name}={value}"]
        crawl = subprocess.Popen(command, env=child_env(), stdout=subprocess.PIPE, text=True)
        queries = 0
        while crawl.poll() is None or queries < 3:
            for args in (("search", "北極"), ("changes", "--since", "1h")):
                result = invoke(db, *args, now=datetime.now(UTC))
                assert result.exit_code == 0, result.output
                queries += 1
        crawl.communicate(timeout=60)
    assert crawl.returncode == 0
    assert invoke(db, "changes", now=datetime.now(UTC)).stdout.count("new") >= 10


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_command_documents_itself_with_examples(command):
    help_text = command.get_help(
        command.make_context(command.name, ["--help"], resilient_parsing=True)
    )
    assert "Examples:" in help_text and f"topicwatch {command.name}" in help_text
    assert "--db" in help_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2w", NOW - timedelta(weeks=2)),
        ("1h30m", NOW - timedelta(minutes=90)),  # the one duration grammar
        ("1.5h", NOW - timedelta(minutes=90)),
        ("now", NOW),
        ("2026-02-01", datetime(2026, 2, 1, tzinfo=UTC)),
        ("2026-02-01T09:00+09:00", datetime(2026, 2, 1, tzinfo=UTC)),
        ("2026-02-01 12:30:00Z", datetime(2026, 2, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_parse_moment(text, expected):
    assert parse_moment(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "24", "h", "2026-02-30", "-3d"])
def test_parse_moment_rejects(text):
    with pytest.raises(BadMoment):
        parse_moment(text, NOW)
