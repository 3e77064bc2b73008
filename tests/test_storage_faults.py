"""The fault matrix, the archive file: every unusable archive is one clear error, exit 2.

Nothing may be written: not the archive, not a lock directory, not a WAL file. Tests run
as root in CI, where permissions do not bind; the read-only directory is then exercised
in-process by making the archive's writability check see a read-only directory.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import child_env
from fault_checks import as_params
from fault_matrix import row, rows

from topicwatch.archive import open_archive
from topicwatch.archive.lock import lock_dir, lock_path
from topicwatch.archive.schema import SCHEMA_VERSION
from topicwatch.cli import cli

NOWHERE = "http://127.0.0.1:9/articles/tag/nato/"  # never reached: the archive fails first


def missing_dir(tmp: Path) -> Path:
    return tmp / "no" / "such" / "dir" / "a.db"


def read_only_dir(tmp: Path) -> Path:
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o555)
    return tmp / "ro" / "a.db"


def not_a_database(tmp: Path) -> Path:
    path = tmp / "notes.db"
    path.write_text("meeting notes, not SQLite\n" * 50, encoding="utf-8")
    return path


def newer_schema(tmp: Path) -> Path:
    path = tmp / "future.db"
    with sqlite3.connect(path) as conn:
        for table in ("topics", "crawl_runs", "items", "from_the_future"):
            conn.execute(f"CREATE TABLE {table} (x)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    return path


def path_is_directory(tmp: Path) -> Path:
    (tmp / "a.db").mkdir()
    return tmp / "a.db"


def foreign_sqlite(tmp: Path) -> Path:
    path = tmp / "inventory.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT)")
        conn.execute("INSERT INTO items (sku) VALUES ('A-1')")
    conn.close()
    return path


def lock_symlink(tmp: Path) -> Path:
    db = tmp / "a.db"
    open_archive(db).close()
    (tmp / "precious.txt").write_text("not a lock\n", encoding="utf-8")
    lock = lock_path(db, NOWHERE)
    lock.parent.mkdir(mode=0o755)
    lock.symlink_to(tmp / "precious.txt")
    return db


def lock_dir_unsafe(tmp: Path) -> Path:
    db = tmp / "a.db"
    open_archive(db).close()
    lock_dir(db).mkdir()
    lock_dir(db).chmod(0o777)
    return db


ARCHIVES: dict[str, Callable[[Path], Path]] = {
    "missing-dir": missing_dir,
    "read-only-dir": read_only_dir,
    "not-a-database": not_a_database,
    "newer-schema": newer_schema,
    "path-is-directory": path_is_directory,
    "foreign-sqlite": foreign_sqlite,
    "lock-symlink": lock_symlink,
    "lock-dir-unsafe": lock_dir_unsafe,
}
# Rows that need more than a crawl of a prepared path: tested, against the row, there.
TESTED_APART = {
    "foreign-sqlite-lookalike": "test_foreign_files.py",
    "disk-full-open": "test_disk_full.py",
    "disk-full-commit": "test_disk_full.py",
    "disk-full-inodes": "test_disk_full.py",
    "disk-full-output": "test_disk_full.py",
    "reader-without-shm": "test_read_only_reader.py",
}


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a directory)."""
    return {
        str(path.relative_to(root)): None if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }


def topicwatch(db: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", NOWHERE, "--db", str(db)]
    return subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=60)


def one_error(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0]


@pytest.fixture
def restore_permissions(tmp_path: Path) -> Iterator[None]:
    yield
    for path in tmp_path.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)  # let pytest clean up


@pytest.mark.parametrize(
    "fault", as_params([f for f in rows("storage") if f.id not in TESTED_APART])
)
def test_an_unusable_archive_is_one_error_and_nothing_is_written(
    fault, tmp_path, restore_permissions
):
    if fault.id == "read-only-dir" and os.geteuid() == 0:
        pytest.skip("root ignores directory permissions: see the in-process test below")
    db = ARCHIVES[fault.id](tmp_path)
    before = tree(tmp_path)
    done = topicwatch(db)
    assert done.returncode == int(fault.exit), done.stderr
    assert fault.error in one_error(done.stderr)
    assert tree(tmp_path) == before


def test_a_read_only_directory_is_refused_in_process(tmp_path, monkeypatch, restore_permissions):
    """As root (CI), the kernel would let us write: make the check see read-only instead."""
    fault = row("read-only-dir")
    db = ARCHIVES[fault.id](tmp_path)
    real_access = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        if mode & os.W_OK and Path(str(path)).resolve() == db.parent.resolve():
            return False
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("topicwatch.archive.db.os.access", access)
    before = tree(tmp_path)
    result = CliRunner().invoke(cli, ["crawl", "--url", NOWHERE, "--db", str(db)])
    assert result.exit_code == int(fault.exit)
    assert fault.error in one_error(result.output)
    assert tree(tmp_path) == before


def test_every_row_has_an_archive():
    assert set(ARCHIVES) | set(TESTED_APART) == {fault.id for fault in rows("storage")}
    assert not set(ARCHIVES) & set(TESTED_APART)
