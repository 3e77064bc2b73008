"""Keeping ``search_fts`` in step with ``item_versions``: every writer of versions calls here.

The index holds each version's text folded (:func:`archive.fold.fold`) and followed by
the sentinel, under the version's id. Up to schema version 3 triggers did this, folding
in SQL at 30–150 µs a row and re-indexing a version whenever any of its columns was set;
now the writers index the versions they write, in bulk, inside their transaction.
``search_fts`` is contentless: removing a version's entry needs the text it was indexed
with, so call :func:`unindex_versions` *before* rewriting or deleting a version.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from topicwatch.archive.fold import SENTINEL, fold

VersionText = tuple[int, str, str]  # item_versions.id, headline, summary


def index_run(db: sqlite_utils.Database, run_id: int) -> None:
    """Index every version ``run_id`` wrote (once, after writing them)."""
    index_versions(
        db, db.execute("SELECT id, headline, summary FROM item_versions WHERE run_id = ?", [run_id])
    )


def index_versions(db: sqlite_utils.Database, versions: Iterable[VersionText]) -> None:
    """Add these versions' folded text to the index."""
    db.conn.executemany(
        "INSERT INTO search_fts (rowid, headline, summary) VALUES (?, ?, ?)", _entries(versions)
    )


def unindex_versions(db: sqlite_utils.Database, versions: Iterable[VersionText]) -> None:
    """Remove these versions from the index; give the text they were indexed with."""
    db.conn.executemany(
        "INSERT INTO search_fts (search_fts, rowid, headline, summary) VALUES ('delete', ?, ?, ?)",
        _entries(versions),
    )


def _entries(versions: Iterable[VersionText]) -> list[VersionText]:
    return [(row_id, fold(h) + SENTINEL, fold(s) + SENTINEL) for row_id, h, s in versions]
