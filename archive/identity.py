"""Whose SQLite file is this? Decided before topicwatch writes a byte to it.

Given another application's database as ``--db``, a writer would add our tables, switch
the file to WAL and set its ``user_version``: a change its owner cannot undo. So every
open first asks the file what it is. A topicwatch archive is an empty file, or a file
whose ``application_id`` is ours or unset and whose ``user_version`` says which of our
schema versions it holds — 0 only while its schema holds nothing at all (not even the
``sqlite_sequence`` a dropped table leaves), and from version 1 on with our core tables
and their first columns (a ``topics`` table of someone else's is not ours). Anything else
belongs to someone else and is refused.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from topicwatch.archive.errors import ArchiveError

APPLICATION_ID = 0x74707763  # "tpwc", in PRAGMA application_id of archives created since 0.1
# Tables every schema version since the first has had (sqlite_master names).
CORE_TABLES = frozenset({"topics", "crawl_runs", "items"})
# Columns each core table has had since schema version 1.
CORE_COLUMNS = {
    "topics": frozenset({"id", "name", "url", "created_at"}),
    "crawl_runs": frozenset({"id", "topic", "url", "trigger", "started_at", "status"}),
    "items": frozenset({"id", "url", "headline", "summary", "first_seen_at", "content_hash"}),
}
SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100


class NotOurs(ArchiveError):
    """The file is a database (or something else) that topicwatch did not create."""


def read_header(path: Path) -> bytes:
    """The first bytes of the file: SQLite's header, or what stands in its place.

    Read through a descriptor this process keeps open (:class:`_Headers`), never one it
    opens and closes: closing *any* descriptor of a file drops every POSIX lock the process
    holds on it, SQLite's included. A daemon thread checking the archive while another
    thread's connection was open dropped that connection's shared lock; a crawl process
    closing its own connection then took itself for the last one and deleted the WAL under
    the live connection — committed runs lost, "database disk image is malformed"
    (sqlite.org/howtocorrupt.html, 2.2).
    """
    return _HEADERS.read(path)


class _Headers:
    """One read-only descriptor per file (by device and inode), kept for the process's life.

    At most ``KEEP`` files: past that the oldest descriptor is closed, which is safe unless
    this process still has a connection on that file — a process that juggles a thousand
    archives (a test session) rather than one (the daemon, a worker, a command).
    """

    KEEP = 1024

    def __init__(self) -> None:
        self._handles: dict[tuple[int, int], int] = {}
        self._spares: list[int] = []
        self._lock = threading.Lock()

    def read(self, path: Path) -> bytes:
        with self._lock:
            handle = self._handle(path)
            return os.pread(handle, HEADER_SIZE, 0)

    def _handle(self, path: Path) -> int:
        info = os.stat(path)  # a stat opens nothing
        key = (info.st_dev, info.st_ino)
        handle = self._handles.get(key)
        if handle is not None:
            return handle
        handle = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        opened = os.fstat(handle)
        key = (opened.st_dev, opened.st_ino)  # the file may have been replaced meanwhile
        if key in self._handles:  # replaced and seen meanwhile: keep this one open too
            self._spares.append(handle)  # (closing it would drop the file's locks)
            return self._handles[key]
        self._handles[key] = handle
        if len(self._handles) > self.KEEP:
            os.close(self._handles.pop(next(iter(self._handles))))
        return handle


_HEADERS = _Headers()


def check_magic(path: Path, header: bytes) -> None:
    """Refuse a non-empty file that is not an SQLite database at all."""
    if header and not header.startswith(SQLITE_MAGIC):
        raise NotOurs(f"{path} is not a topicwatch archive (not an SQLite database)")


def is_wal(header: bytes) -> bool:
    """Whether the header says the file is in WAL mode (read and write versions 2)."""
    return len(header) >= 20 and header[18] == 2 and header[19] == 2


def identify(conn: sqlite3.Connection, path: Path, schema_version: int) -> int:
    """The archive's schema version, read on ``conn``; NotOurs if the file is not ours.

    A version above ``schema_version`` is returned as it is (the caller refuses it): a
    newer topicwatch may restructure, so only the core tables and our id are asked of it.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    application = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if application not in (0, APPLICATION_ID):
        raise NotOurs(
            f"{path} is not a topicwatch archive (it belongs to another application:"
            f" application_id {application:#x}); nothing was changed"
        )
    every = {str(name) for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    names = {name for name in every if not name.startswith("sqlite_")}
    if version == 0 and every:
        raise NotOurs(
            f"{path} is not a topicwatch archive (it holds tables topicwatch did not create:"
            f" {_sample(names or every)}); nothing was changed"
        )
    if version > 0 and not names >= CORE_TABLES and application != APPLICATION_ID:
        raise NotOurs(
            f"{path} is not a topicwatch archive (user_version {version} without topicwatch's"
            f" tables; it holds {_sample(names) or 'no tables'}); nothing was changed"
        )
    if 0 < version <= schema_version:
        _check_core_columns(conn, path, names)
    return version


def _check_core_columns(conn: sqlite3.Connection, path: Path, names: set[str]) -> None:
    for table, columns in CORE_COLUMNS.items():
        if table not in names:
            continue  # a missing table is judged above (or, with our id, by the migrations)
        found = {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}
        if not found >= columns:
            raise NotOurs(
                f"{path} is not a topicwatch archive (its table {table} lacks topicwatch's"
                f" columns {_sample(set(columns - found))}); nothing was changed"
            )


def _sample(names: set[str]) -> str:
    shown = sorted(names)[:3]
    return ", ".join(shown) + (", …" if len(names) > len(shown) else "")
