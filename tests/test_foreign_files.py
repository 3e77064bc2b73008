"""Another application's SQLite file given as ``--db``: refused, exit 2, left byte for byte.

Before, a writer converted it (our tables added, WAL switched on, user_version set) and a
table-name clash ended in a traceback after WAL was on. Every command is tried — crawl
and the daemon as real processes, the analysts' commands through the CLI — and the whole
directory must be as it was: the file, and no ``-wal``, ``-shm`` or lock directory beside it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import child_env

from topicwatch.archive import open_archive
from topicwatch.archive.db import check_archive
from topicwatch.archive.errors import ArchiveError
from topicwatch.cli import cli

NOWHERE = "http://127.0.0.1:9/articles/tag/nato/"  # never reached: the archive fails first


def _database(path: Path, *statements: str, wal: bool = False) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    for statement in statements:
        conn.execute(statement)
    conn.close()  # the last connection: a WAL file is checkpointed and removed
    return path


def _crashed(path: Path, *statements: str, checkpointed: tuple[str, ...] = ()) -> Path:
    """An app's WAL database as its crash (or a copy) leaves it: a -wal holding committed
    transactions and no -shm. ``checkpointed`` statements reach the file itself first."""
    live = path.with_name("live-" + path.name)
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in checkpointed:
        conn.execute(statement)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    for statement in statements:
        conn.execute(statement)
    path.write_bytes(live.read_bytes())
    Path(f"{path}-wal").write_bytes(Path(f"{live}-wal").read_bytes())
    conn.close()
    for leftover in live.parent.glob(live.name + "*"):
        leftover.unlink()
    return path


FOREIGN: dict[str, Callable[[Path], Path]] = {
    # An app's table named like ours: the clash that ended in a traceback after WAL was on.
    "table-clash": lambda tmp: _database(
        tmp / "app.db", "CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT)",
        "INSERT INTO items (sku) VALUES ('A-1')",
    ),
    "wal-app": lambda tmp: _database(
        tmp / "app.db", "CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('x')",
        wal=True,
    ),
    "application-id": lambda tmp: _database(
        tmp / "geo.gpkg", "PRAGMA application_id = 1196444487", "PRAGMA user_version = 10300",
        "CREATE TABLE gpkg_contents (table_name TEXT)",
    ),
    "versioned-app": lambda tmp: _database(
        tmp / "app.db", "CREATE TABLE accounts (id INTEGER)", "PRAGMA user_version = 3",
    ),
    # Only sqlite_sequence left (an AUTOINCREMENT table, dropped): it read as empty, ours.
    "sequence-only": lambda tmp: _database(
        tmp / "app.db", "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)",
        "INSERT INTO t DEFAULT VALUES", "DROP TABLE t",
    ),
    # Our table names with other columns: it was migrated (and failed half-way).
    "lookalike-columns": lambda tmp: _database(
        tmp / "app.db", "CREATE TABLE topics (a)", "CREATE TABLE crawl_runs (b)",
        "CREATE TABLE items (c)", "PRAGMA user_version = 3",
    ),
    # A -wal without a -shm: even a mode=ro reader made a -shm beside it.
    "wal-log-unread": lambda tmp: _crashed(
        tmp / "app.db", "INSERT INTO notes VALUES ('y')",
        checkpointed=("CREATE TABLE notes (body TEXT)",),
    ),
    "wal-log-only": lambda tmp: _crashed(tmp / "app.db", "CREATE TABLE notes (body TEXT)"),
}  # fmt: skip


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(path.relative_to(root)): None if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }


def one_error(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0]


@pytest.fixture(params=sorted(FOREIGN))
def foreign(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return FOREIGN[request.param](tmp_path)


def topicwatch(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topicwatch", *argv],
        capture_output=True, text=True, env=child_env(), timeout=60, cwd=cwd,
    )  # fmt: skip


def test_crawl_refuses_it_and_changes_nothing(foreign):
    before = tree(foreign.parent)
    done = topicwatch("crawl", "--url", NOWHERE, "--db", str(foreign), cwd=foreign.parent)
    assert done.returncode == 2, done.stderr
    assert "is not a topicwatch archive" in one_error(done.stderr)
    assert tree(foreign.parent) == before


def test_the_daemon_refuses_it_before_starting(foreign):
    config = foreign.parent / "tw.toml"
    config.write_text(f'db = "{foreign}"\n', encoding="utf-8")
    before = tree(foreign.parent)
    done = topicwatch("daemon", "--config", str(config), cwd=foreign.parent)
    assert done.returncode == 2, done.stderr
    assert "is not a topicwatch archive" in one_error(done.stderr)
    assert tree(foreign.parent) == before


def test_the_scheduler_itself_refuses_it_and_leaves_the_file(foreign):
    """Started without the CLI (``python -m scheduler``): exit 2, the file untouched."""
    config = foreign.parent / "tw.toml"
    config.write_text(f'db = "{foreign}"\n', encoding="utf-8")
    before = tree(foreign.parent)
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "--config", str(config)],
        capture_output=True, text=True, env=child_env(), timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "is not a topicwatch archive" in done.stderr and "Traceback" not in done.stderr
    assert tree(foreign.parent) == before  # no -wal or -shm made beside it either


ANALYSTS = [
    ("search", "x"),
    ("changes",),
    ("history", "1"),
    ("asof", "1h"),
    ("export",),
    ("gaps",),
    ("serve",),
    ("show-snapshot", "1"),
    ("prune", "--keep", "90d"),
    ("prune", "--keep", "90d", "--dry-run"),
    ("reparse",),
    ("reparse", "--dry-run"),
    ("status",),
]


@pytest.mark.parametrize("argv", ANALYSTS, ids=" ".join)
def test_every_analysts_command_refuses_it(foreign, argv):
    before = tree(foreign.parent)
    result = CliRunner().invoke(cli, [*argv, "--db", str(foreign)])
    assert result.exit_code == 2, result.output
    assert "is not a topicwatch archive" in one_error(result.output)
    assert tree(foreign.parent) == before


def test_a_file_that_is_ours_still_opens(tmp_path):
    """The checks refuse nothing of ours: new, empty, current and migrated archives."""
    empty = tmp_path / "empty.db"
    empty.touch()
    open_archive(empty).close()
    check_archive(empty)
    open_archive(empty, readonly=True).close()
    # An archive written before topicwatch set its application_id: user_version alone.
    old = tmp_path / "old.db"
    open_archive(old).close()
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA application_id = 0")
    conn.close()
    check_archive(old)
    open_archive(old).close()


def test_a_new_archive_carries_topicwatchs_application_id(tmp_path):
    open_archive(tmp_path / "a.db").close()
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("PRAGMA application_id").fetchone() == (0x74707763,)
    conn.close()


def test_the_check_is_refused_in_one_line_by_the_library(tmp_path):
    path = FOREIGN["table-clash"](tmp_path)
    with pytest.raises(ArchiveError, match="tables topicwatch did not create: items"):
        check_archive(path)


def test_a_writer_overtaking_the_identifying_look_makes_it_look_again(tmp_path, monkeypatch):
    """Identification reads an idle file pinned (no -shm left behind); when another process
    commits meanwhile — two crawls of different topics — it must look again, not refuse."""
    import topicwatch.archive.db as archive_db
    from topicwatch.archive.readonly import is_pinned

    path = tmp_path / "a.db"
    open_archive(path).close()  # the last writer closed: idle, no -shm
    real = archive_db._checked_version
    looks: list[bool] = []

    def overtaken(conn: sqlite3.Connection, at: Path) -> int:
        first = not looks
        looks.append(is_pinned(conn))
        if first and looks[0]:
            monkeypatch.setattr(archive_db, "_checked_version", real)
            writer = open_archive(at)  # another process's crawl, committing meanwhile
            writer.execute("INSERT INTO topics (name, url, created_at) VALUES ('x', 'u', 't')")
            writer.close()
            monkeypatch.setattr(archive_db, "_checked_version", overtaken)
        return real(conn, at)

    monkeypatch.setattr(archive_db, "_checked_version", overtaken)
    open_archive(path).close()
    assert looks[:2] == [True, False]  # pinned, overtaken, then read as readers do
