"""Shared fixtures: a local fixture site, a fresh archive path, and a real crawl runner.

Crawls run as real ``topicwatch crawl`` child processes (Twisted's reactor cannot restart
inside the test process), against the fixture site on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

sys.path.insert(0, str(Path(__file__).parent))

from fixture_site import FixtureSite

from topicwatch.archive.schema import MIGRATIONS

# Fast and local: no politeness delay against our own fixture server, short backoff.
TEST_SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "RETRY_BACKOFF_BASE": "0.05",
    "DOWNLOAD_TIMEOUT": "5",
}


@dataclass
class Crawl:
    """A finished ``topicwatch crawl`` process: its exit code, output and JSON run row."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def run(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def child_env() -> dict[str, str]:
    """The environment of child processes: no proxies, so nothing leaves 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("TOPICWATCH_DB", None)
    env["PYTHONPATH"] = str(Path(__file__).parents[1])
    return env


def run_crawl(url: str, db: Path, *args: str, settings: dict[str, str] | None = None) -> Crawl:
    """Run ``topicwatch crawl --json`` in a child process and wait for it."""
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", url, "--db", str(db), "--json"]
    for name, value in {**TEST_SETTINGS, **(settings or {})}.items():
        command += ["-s", f"{name}={value}"]
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, env=child_env(), timeout=120
    )
    return Crawl(done.returncode, done.stdout, done.stderr)


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the archive file directly (read-only), as an analyst's SQL would."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def archive_at(path: Path, version: int) -> sqlite_utils.Database:
    """An archive as topicwatch left it at schema ``version`` (before later migrations)."""
    raw = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    for migration in MIGRATIONS[:version]:
        migration(raw)
    raw.execute(f"PRAGMA user_version = {version}")
    return raw


def add_one_version(raw: sqlite_utils.Database, headline: str) -> None:
    """One topic, run, item and version with ``headline``, in plain SQL as older code wrote."""
    raw.execute("INSERT INTO topics (name, url, created_at) VALUES ('t', 'http://x/t/', 'x')")
    raw.execute(
        "INSERT INTO crawl_runs (topic, topic_id, url, trigger, started_at)"
        " VALUES ('t', 1, 'http://x/t/', 'manual', 'x')"
    )
    raw.execute(
        "INSERT INTO items (url, first_seen_at, last_seen_at, content_hash)"
        " VALUES ('http://x/a/', 'x', 'x', 'h')"
    )
    raw.execute(
        "INSERT INTO item_versions (item_id, version, headline, summary, observed_at, run_id,"
        " content_hash) VALUES (1, 1, ?, '要約', 'x', 1, 'h')",
        [headline],
    )


def scalar(db: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    return rows(db, sql, params)[0][0]


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as running:
        yield running


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "archive.db"


def on_a_terminal(*argv: str) -> tuple[int, str]:
    """Run ``topicwatch`` with a pseudo-terminal as stdout and stderr: its exit status and
    what the terminal got."""
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "topicwatch", *argv], stdout=slave, stderr=slave,
        stdin=subprocess.DEVNULL, env=child_env(),
    )  # fmt: skip
    os.close(slave)
    received = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    return process.wait(timeout=120), received.decode("utf-8")


# The session's two real Scrapyd nodes (tests/scrapyd_nodes.py), for the scale-out tests.
from scrapyd_nodes import scrapyd_egg, scrapyd_nodes  # noqa: E402, F401
