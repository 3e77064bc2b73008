"""Opening the archive file: pragmas, migrations, read-only mode, write transactions.

Every process opens the archive through here so that WAL, the busy timeout and foreign
keys are always on, and so that a bad path, a file that is not ours or a full disk fails
with one clear :class:`ArchiveError` before anything is written.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from topicwatch.archive.diagnose import disk_full, explain
from topicwatch.archive.errors import ArchiveError
from topicwatch.archive.identity import (
    APPLICATION_ID,
    NotOurs,
    check_magic,
    identify,
    is_wal,
    read_header,
)
from topicwatch.archive.readonly import confirm, connect_reader, is_complete, is_pinned, unchanged
from topicwatch.archive.schema import SCHEMA_VERSION, pending_migrations

BUSY_TIMEOUT_MS = 30_000
# SQLite's unix VFS takes paths of at most 512 bytes, and opens the archive's "-journal",
# "-wal" and "-shm" beside it (and we its ".locks" directory): a name that fits alone
# but not with a suffix made the file, then failed to open it.
MAX_PATH_BYTES = 512 - len("-journal")
MAX_NAME_BYTES = 255 - len("-journal")

__all__ = [
    "ArchiveError", "check_archive", "check_path_fits", "confirm_read", "is_pinned_read",
    "open_archive", "write_transaction",
]  # fmt: skip


def open_archive(
    path: str | os.PathLike[str],
    *,
    readonly: bool = False,
    check_room: bool = True,
    create: bool = True,
) -> sqlite_utils.Database:
    """Open (and for writers create and upgrade) the archive at ``path``.

    Writers are refused on a full disk (``check_room``), unless they only record why
    a run failed: that small update reuses log space the failed write left behind.
    ``create=False``: a writer of an archive that must already be there (the daemon and its
    workers after start) never makes a new empty one where it was deleted, not even in a
    race with the deletion (SQLite's ``mode=rw``).
    """
    path = Path(path)
    _check_path(path, readonly=readonly or not create)
    full = None if readonly or not check_room else disk_full(path)
    if full:
        raise ArchiveError(full)  # before a write fails half-way, or SQLite calls it I/O
    try:
        return _open(path, readonly=readonly, create=create)
    except sqlite3.Error as error:
        if not create and not path.exists():
            raise ArchiveError(f"archive not found: {path}") from None
        raise explain(path, error) from error


def file_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """Which file ``path`` names now (device, inode), None if none: a long-lived process
    compares it with the one it opened, since a connection stays on a file deleted or
    replaced under it, and what it writes there afterwards is lost with that file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def check_archive(path: str | os.PathLike[str]) -> None:
    """Refuse now, writing nothing, a file a writer would refuse (not ours, newer, unreadable).

    For commands that hand the archive to another process (the daemon), so that the
    refusal is one line before anything starts rather than a log line after.
    """
    path = Path(path)
    _check_path(path, readonly=False)
    if path.exists():
        try:
            _version(path)
        except sqlite3.Error as error:
            raise explain(path, error) from error


def confirm_read(db: sqlite_utils.Database) -> None:
    """Raise ArchiveError if what ``db`` read cannot be trusted: a pinned read (see
    :mod:`archive.readonly`) that a writer overtook. Call it before showing the answer."""
    confirm(db.conn)


def is_pinned_read(db: sqlite_utils.Database) -> bool:
    """Whether ``db`` reads the file pinned, without the WAL index a live reader needs."""
    return is_pinned(db.conn)


def _open(path: Path, *, readonly: bool, create: bool = True) -> sqlite_utils.Database:
    if path.exists():
        check_magic(path, read_header(path))  # not SQLite at all: say so without opening it
    # Identified first without leaving a trace: even a reader's connection may create a
    # -shm beside a WAL file, and a writer's may roll back or checkpoint someone's log.
    _version(path)
    conn = connect_reader(path) if readonly else _connect(path, create=create)
    try:
        # Again on this connection: _version's look may have seen another state of the file.
        version = _checked_version(conn, path)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            # Only now, once the file is known to be ours: WAL rewrites the header.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        db = sqlite_utils.Database(conn)
        if version < SCHEMA_VERSION:
            if readonly:
                raise ArchiveError(f"{path} needs an upgrade; run any crawl once to migrate it")
            _migrate(db)
    except BaseException:
        conn.close()
        raise
    return db


def _version(path: Path) -> int:
    """The schema version of the file at ``path`` (0 if new), read without writing to it
    or beside it; ArchiveError if it is not ours or newer than this code."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    if not Path(f"{path}-shm").exists():
        # Nobody has the file open: the file alone is read first, so that a file that is
        # not ours never gets a -shm (a WAL index, made even by mode=ro) beside it.
        version = _pinned_version(path)
        if version is not None:
            return version
    conn = connect_reader(path)
    try:
        return _checked_version(conn, path)
    finally:
        conn.close()


def _pinned_version(path: Path) -> int | None:
    """The version as the file alone has it, or None: read it as readers do (a writer
    overtook the look, or the file is ours and its log holds more)."""
    conn = connect_reader(path, pinned=True)
    try:
        version = _checked_version(conn, path)
    except (ArchiveError, sqlite3.DatabaseError):
        if unchanged(conn):
            raise
        return None
    else:
        if not unchanged(conn):
            return None
    finally:
        conn.close()
    if is_complete(path):
        return version
    if version == 0 and is_wal(read_header(path)):
        # Nothing in the file says whose it is, and only its -wal could: reading that
        # needs a -shm, which would be left beside another application's file.
        raise NotOurs(
            f"{path} is not a topicwatch archive as far as its file shows (its -wal log holds"
            " transactions and there is no -shm to read them with); nothing was changed"
        )
    return None


def _checked_version(conn: sqlite3.Connection, path: Path) -> int:
    version = identify(conn, path, SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        raise ArchiveError(
            f"{path} has schema version {version}, newer than this topicwatch "
            f"understands ({SCHEMA_VERSION}); upgrade topicwatch"
        )
    return version


def check_path_fits(path: Path) -> None:
    """ArchiveError unless ``path`` is one SQLite and the file system can use, with every
    file made beside it: no NUL, no name or path too long (it was a traceback, after an
    empty file had been made)."""
    text = os.fspath(path)
    if "\x00" in text:
        raise ArchiveError("archive path contains a NUL character")
    full = os.fsencode(os.path.abspath(text))
    if len(full) > MAX_PATH_BYTES:
        raise ArchiveError(
            f"archive path is too long: {len(full)} bytes (SQLite takes {MAX_PATH_BYTES})"
        )
    if any(len(part) > 255 for part in full.split(b"/")) or len(os.fsencode(path.name)) > (
        MAX_NAME_BYTES
    ):
        raise ArchiveError(
            f"archive file name is too long (at most {MAX_NAME_BYTES} bytes, so that its"
            " -journal fits beside it)"
        )


def _check_path(path: Path, *, readonly: bool) -> None:
    check_path_fits(path)
    if readonly and not path.exists():
        raise ArchiveError(f"archive not found: {path}")
    if not path.parent.is_dir():
        raise ArchiveError(f"archive directory does not exist: {path.parent}")
    if not readonly and not os.access(path.parent, os.W_OK):
        raise ArchiveError(f"archive directory is not writable: {path.parent}")
    if path.exists() and not path.is_file():
        raise ArchiveError(f"archive path is not a file: {path}")


def _connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """Autocommit connection: transactions are explicit (see :func:`write_transaction`).

    ``create=False`` opens with ``mode=rw``: SQLite fails rather than make the file."""
    if create:
        conn = sqlite3.connect(path, isolation_level=None)
    else:
        uri = f"{path.resolve().as_uri()}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        # Reading the schema forces SQLite to read the header: a non-database fails here.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(db: sqlite_utils.Database) -> None:
    with write_transaction(db):
        # Re-read inside the lock: another process may have migrated meanwhile.
        current = db.execute("PRAGMA user_version").fetchone()[0]
        if current == 0:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
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
