"""Opening the archive file: pragmas, migrations, read-only mode, write transactions.

Every process opens the archive through here so that WAL, the busy timeout and foreign
keys are always on, and so that a bad path fails with one clear :class:`ArchiveError`
before anything is written.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from archive.schema import SCHEMA_VERSION, pending_migrations

BUSY_TIMEOUT_MS = 30_000


class ArchiveError(Exception):
    """The archive cannot be used as asked; the message is one line for the operator."""


def open_archive(path: str | os.PathLike[str], *, readonly: bool = False) -> sqlite_utils.Database:
    """Open (and for writers create and upgrade) the archive at ``path``."""
    path = Path(path)
    _check_path(path, readonly=readonly)
    try:
        conn = _connect(path, readonly=readonly)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise ArchiveError(f"{path} is not a topicwatch archive ({error})") from error
    if version > SCHEMA_VERSION:
        conn.close()
        raise ArchiveError(
            f"{path} has schema version {version}, newer than this topicwatch "
            f"understands ({SCHEMA_VERSION}); upgrade topicwatch"
        )
    if not readonly:
        # Only now, once the file is known to be ours: WAL rewrites the header.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    db = sqlite_utils.Database(conn)
    if version < SCHEMA_VERSION:
        if readonly:
            conn.close()
            raise ArchiveError(f"{path} needs an upgrade; run any crawl once to migrate it")
        _migrate(db, version)
    return db


def _check_path(path: Path, *, readonly: bool) -> None:
    if readonly and not path.exists():
        raise ArchiveError(f"archive not found: {path}")
    if not path.parent.is_dir():
        raise ArchiveError(f"archive directory does not exist: {path.parent}")
    if not readonly and not os.access(path.parent, os.W_OK):
        raise ArchiveError(f"archive directory is not writable: {path.parent}")
    if path.exists() and not path.is_file():
        raise ArchiveError(f"archive path is not a file: {path}")


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """Autocommit connection: transactions are explicit (see :func:`write_transaction`)."""
    if readonly:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Reading the schema forces SQLite to read the header: a non-database fails here.
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return conn


def _migrate(db: sqlite_utils.Database, version: int) -> None:
    with write_transaction(db):
        # Re-read inside the lock: another process may have migrated meanwhile.
        current = db.execute("PRAGMA user_version").fetchone()[0]
        for migration in pending_migrations(current):
            migration(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One short ``BEGIN IMMEDIATE`` transaction.

    A deferred BEGIN that reads then writes fails at once with "database is locked" when
    another writer is active; IMMEDIATE takes the write lock up front and so waits out
    the busy timeout instead (measured, see shared/PITFALLS.md).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
