"""Raw page snapshots: the evidence behind every archived version.

Every distinct body fetched (listing or article page) is stored once, keyed by its
SHA-256 and gzip-compressed; every fetch is a row in ``fetches`` linking a run, a URL and
its HTTP facts to the body it received. An unchanged page (same hash, or a 304) adds a
fetch row of a few dozen bytes and no body bytes. gzip was chosen over zstd by
measurement (docs/benchmarks.md): on 20-40 KiB pages it stores smaller than zstd -3 and
within a few percent of zstd -19, needs no dependency, and any operator can ``gunzip``
a body.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from topicwatch.archive.db import write_transaction
from topicwatch.archive.timestamps import iso

COMPRESSION = "gzip"


@dataclass(frozen=True)
class Fetch:
    """One HTTP fetch of a run. ``body`` is None for a 304 (the body is the last one)."""

    kind: str
    url: str
    page: int | None
    fetched_at: datetime
    status: int
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body: bytes | None = None


def compress(body: bytes) -> bytes:
    """gzip with a fixed mtime, so equal bodies compress to equal bytes."""
    return gzip.compress(body, compresslevel=6, mtime=0)


def store_body(db: sqlite_utils.Database, body: bytes, now: str) -> int:
    """The snapshot id of ``body``, storing it only if no snapshot has the same hash."""
    digest = hashlib.sha256(body).hexdigest()
    row = db.execute("SELECT id FROM snapshots WHERE sha256 = ?", [digest]).fetchone()
    if row is not None:
        return int(row[0])
    stored = compress(body)
    cursor = db.execute(
        "INSERT INTO snapshots (sha256, compression, size, stored_size, body, first_seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [digest, COMPRESSION, len(body), len(stored), stored, now],
    )
    return int(cursor.lastrowid or 0)


def record_fetches(
    db: sqlite_utils.Database, run_id: int, fetches: Sequence[Fetch]
) -> dict[str, int | None]:
    """Write a run's fetches (inside the caller's transaction); return url -> snapshot id.

    A 304 points at the snapshot of the URL's last body: the page it confirmed unchanged.
    """
    snapshots: dict[str, int | None] = {}
    for fetch in fetches:
        when = iso(fetch.fetched_at)
        if fetch.body is not None:
            snapshot_id: int | None = store_body(db, fetch.body, when)
        else:
            snapshot_id = last_snapshot_of(db, fetch.url)
        db.execute(
            "INSERT INTO fetches (run_id, kind, url, page, fetched_at, status, content_type,"
            " etag, last_modified, snapshot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, fetch.kind, fetch.url, fetch.page, when, fetch.status,
             fetch.content_type, fetch.etag, fetch.last_modified, snapshot_id],
        )  # fmt: skip
        snapshots[fetch.url] = snapshot_id
    return snapshots


def save_fetches(db: sqlite_utils.Database, run_id: int, fetches: Sequence[Fetch]) -> None:
    """Record a failed run's fetches in a transaction of their own (evidence of the failure)."""
    with write_transaction(db):
        record_fetches(db, run_id, fetches)


def last_snapshot_of(db: sqlite_utils.Database, url: str) -> int | None:
    row = db.execute(
        "SELECT snapshot_id FROM fetches WHERE url = ? AND snapshot_id IS NOT NULL"
        " ORDER BY id DESC LIMIT 1",
        [url],
    ).fetchone()
    return None if row is None else int(row[0])


def snapshot_body(db: sqlite_utils.Database, snapshot_id: int) -> bytes:
    """The exact bytes the site served (after HTTP content decoding)."""
    row = db.execute(
        "SELECT compression, body FROM snapshots WHERE id = ?", [snapshot_id]
    ).fetchone()
    if row is None:
        raise KeyError(snapshot_id)
    compression, stored = row
    if compression != COMPRESSION:
        raise ValueError(f"unknown snapshot compression {compression!r}")
    return gzip.decompress(stored)


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (or, in a dry run, would remove)."""

    snapshots: int
    bytes_freed: int
    kept_as_evidence: int


def prune(
    db: sqlite_utils.Database, older_than: datetime, *, keep_evidence: bool = True,
    dry_run: bool = False,
) -> PruneResult:  # fmt: skip
    """Delete snapshots whose newest fetch is older than ``older_than``.

    With ``keep_evidence`` (the default), a snapshot that an item version names as its
    source is kept whatever its age: it is the only proof of what the page said.
    """
    cutoff = iso(older_than)
    old = "SELECT snapshot_id FROM fetches GROUP BY snapshot_id HAVING max(fetched_at) < ?"
    evidence = "SELECT snapshot_id FROM item_versions WHERE snapshot_id IS NOT NULL"
    candidates = f"SELECT id, stored_size FROM snapshots WHERE id IN ({old})"
    kept = db.execute(f"SELECT count(*) FROM ({candidates}) WHERE id IN ({evidence})", [cutoff])
    kept_count = int(kept.fetchone()[0]) if keep_evidence else 0
    doomed = candidates + (f" AND id NOT IN ({evidence})" if keep_evidence else "")
    rows = db.execute(doomed, [cutoff]).fetchall()
    if not dry_run and rows:
        with write_transaction(db):
            ids = [row[0] for row in rows]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                db.execute(
                    f"UPDATE fetches SET snapshot_id = NULL WHERE snapshot_id IN ({marks})", chunk
                )
                db.execute(
                    f"UPDATE item_versions SET snapshot_id = NULL WHERE snapshot_id IN ({marks})",
                    chunk,
                )
                db.execute(f"DELETE FROM snapshots WHERE id IN ({marks})", chunk)
    return PruneResult(len(rows), sum(row[1] for row in rows), kept_count)
