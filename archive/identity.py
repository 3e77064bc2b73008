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

import sqlite3
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
    """The first bytes of the file: SQLite's header, or what stands in its place."""
    with path.open("rb") as handle:
        return handle.read(HEADER_SIZE)


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
