"""Re-extraction: re-read stored snapshots with a newer extractor, without false edits.

The crawler re-extracts each stored listing snapshot and hands over *readings* (what the
new extractor sees for each item at each run). This module decides, purely:

* an ``edited`` change whose page did not change under the new extractor (its reading at
  that run equals the reading at the item's previous sighting) was the old extractor's
  doing: it is relabelled ``reextracted``;
* an item whose latest reading differs from its latest version gets a new version with
  a ``reextracted`` change (old versions stay, for audit).

and then writes the plan in one transaction, under a run row of mode ``reparse``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlite_utils

from topicwatch.archive.changes import KnownItem, Sighting, compare_text
from topicwatch.archive.db import write_transaction
from topicwatch.archive.search_index import index_run
from topicwatch.archive.text import comparison_key, content_hash
from topicwatch.archive.timestamps import iso


@dataclass(frozen=True)
class SnapshotFetch:
    """A listing page fetch of an ok run whose body is stored."""

    run_id: int
    topic: str
    topic_url: str
    fetched_at: str
    url: str
    page: int
    snapshot_id: int
    content_type: str | None


@dataclass(frozen=True)
class Reading:
    """What the new extractor reads for one item at one run."""

    run_id: int
    url: str
    headline: str
    summary: str


@dataclass(frozen=True)
class NewVersion:
    item_id: int
    url: str
    before: tuple[str, str]
    after: tuple[str, str]


@dataclass
class ReparsePlan:
    """Changes relabelled from ``edited`` and versions to add."""

    relabel: list[tuple[int, str, int]] = field(default_factory=list)  # change id, url, run
    versions: list[NewVersion] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.relabel and not self.versions


def snapshot_fetches(
    db: sqlite_utils.Database, *, topic: str | None, since: datetime | None
) -> list[SnapshotFetch]:
    """Listing fetches of ok crawl runs, oldest first, optionally of one topic / since."""
    sql = (
        "SELECT f.run_id, r.topic, r.url, f.fetched_at, f.url, coalesce(f.page, 1),"
        " f.snapshot_id, f.content_type FROM fetches f JOIN crawl_runs r ON r.id = f.run_id"
        " WHERE f.kind = 'listing' AND f.snapshot_id IS NOT NULL AND r.status = 'ok'"
        " AND r.mode = 'crawl' AND (:topic IS NULL OR r.topic = :topic)"
        " AND (:since IS NULL OR r.started_at >= :since) ORDER BY r.id, f.page"
    )
    params = {"topic": topic, "since": iso(since) if since else None}
    return [SnapshotFetch(*row) for row in db.execute(sql, params)]


def plan_reparse(db: sqlite_utils.Database, readings: Sequence[Reading]) -> ReparsePlan:
    """Compare the new readings with the archive (see the module docstring)."""
    by_item: dict[int, list[Reading]] = {}
    urls: dict[int, str] = {}
    for reading in readings:
        row = db.execute("SELECT id FROM items WHERE url = ?", [reading.url]).fetchone()
        if row is not None:
            by_item.setdefault(int(row[0]), []).append(reading)
            urls[int(row[0])] = reading.url
    plan = ReparsePlan()
    for item_id, item_readings in by_item.items():
        _plan_item(db, item_id, urls[item_id], item_readings, plan)
    return plan


def _plan_item(
    db: sqlite_utils.Database, item_id: int, url: str, readings: list[Reading], plan: ReparsePlan
) -> None:
    first = db.execute(
        "SELECT headline, summary FROM item_versions WHERE item_id = ? ORDER BY version LIMIT 1",
        [item_id],
    ).fetchone()
    text = (str(first[0]), str(first[1]))
    keys: dict[int, str] = {}
    previous: dict[int, str] = {}
    last_key = None
    for reading in sorted(readings, key=lambda r: r.run_id):
        text = (reading.headline or text[0], reading.summary or text[1])
        key = comparison_key(text[0]) + "\x1f" + comparison_key(text[1])
        if last_key is not None:
            previous[reading.run_id] = last_key
        keys[reading.run_id], last_key = key, key
    for change_id, run_id in db.execute(
        "SELECT id, run_id FROM changes WHERE item_id = ? AND kind = 'edited'", [item_id]
    ).fetchall():
        if run_id in keys and previous.get(run_id) == keys[run_id]:
            plan.relabel.append((int(change_id), url, int(run_id)))
    current = db.execute(
        "SELECT headline, summary, content_hash FROM items WHERE id = ?", [item_id]
    ).fetchone()
    before = (str(current[0]), str(current[1]))
    # The crawl's own comparison: a field the pages never showed (a headline an article
    # page filled) is not observed, mojibake of the known text is no reading, and volatile
    # fragments do not count, so the new extractor plans exactly what a crawl would.
    known = KnownItem(item_id, url, before[0], before[1], str(current[2]))
    change = compare_text(known, Sighting(url, text[0], text[1], "", 0, 0))
    if change is not None:
        plan.versions.append(NewVersion(item_id, url, before, (change.headline, change.summary)))


def apply_reparse(
    db: sqlite_utils.Database, plan: ReparsePlan, *, now: datetime, extractor_version: str,
    topic: str | None,
) -> int | None:  # fmt: skip
    """Write the plan under a ``reparse`` run; return its id (None when nothing to do)."""
    if plan.empty:
        return None
    at = iso(now)
    with write_transaction(db):
        run_id = _reparse_run(db, at, extractor_version, topic, plan)
        db.conn.executemany(
            "UPDATE changes SET kind = 'reextracted' WHERE id = ? AND kind = 'edited'",
            [(change_id,) for change_id, _, _ in plan.relabel],
        )
        for version in plan.versions:
            _add_version(db, run_id, version, at, extractor_version)
        index_run(db, run_id)
    return run_id


def _reparse_run(
    db: sqlite_utils.Database, at: str, extractor_version: str, topic: str | None,
    plan: ReparsePlan,
) -> int:  # fmt: skip
    cursor = db.execute(
        "INSERT INTO crawl_runs (topic, url, trigger, started_at, finished_at, status, mode,"
        " items_edited, extractor_version, error) VALUES (?, '', 'manual', ?, ?, 'ok', 'reparse',"
        " 0, ?, ?)",
        [topic or "*", at, at, extractor_version,
         json.dumps({"relabelled": len(plan.relabel), "versions": len(plan.versions)})],
    )  # fmt: skip
    return int(cursor.lastrowid or 0)


def _add_version(
    db: sqlite_utils.Database, run_id: int, version: NewVersion, at: str, extractor_version: str
) -> None:
    headline, summary = version.after
    digest = content_hash(headline, summary)
    db.execute(
        "UPDATE items SET headline = ?, summary = ?, content_hash = ?, version = version + 1"
        " WHERE id = ?",
        [headline, summary, digest, version.item_id],
    )
    db.execute(
        "INSERT INTO item_versions (item_id, version, headline, summary, observed_at, run_id,"
        " content_hash, extractor_version, snapshot_id) SELECT id, version, headline, summary,"
        " ?, ?, content_hash, ?, (SELECT snapshot_id FROM item_versions WHERE item_id = ?"
        " ORDER BY version DESC LIMIT 1) FROM items WHERE id = ?",
        [at, run_id, extractor_version, version.item_id, version.item_id],
    )
    db.execute(
        "INSERT INTO changes (run_id, item_id, kind, at, fields, version)"
        " SELECT ?, id, 'reextracted', ?, '', version FROM items WHERE id = ?",
        [run_id, at, version.item_id],
    )
