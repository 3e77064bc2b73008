"""The topic listing as the archive saw it at a past moment.

A ``listings`` row is stored only when a run's ordered listing differed from the one
before, so the listing in force at ``when`` is the topic's latest row observed at or
before it (index ``listings_topic_observed``). Each entry shows the item's text as the
archive knew it at ``when``: its latest version observed by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from topicwatch.archive.lookup import NotFound
from topicwatch.archive.timestamps import iso


@dataclass(frozen=True)
class AsofEntry:
    """One card of a past listing."""

    topic: str
    listed_at: str
    run_id: int
    position: int
    page: int
    item_id: int
    url: str
    headline: str
    summary: str
    published_at: str
    version: int
    version_observed_at: str


def listing_as_of(
    db: sqlite_utils.Database, when: datetime, topic_id: int | None = None
) -> list[AsofEntry]:
    """Every topic's (or one topic's) listing in force at ``when``, in listing order."""
    moment = iso(when)
    topic_rows = db.execute(
        "SELECT id, name FROM topics WHERE ? IS NULL OR id = ? ORDER BY name",
        [topic_id, topic_id],
    ).fetchall()
    entries: list[AsofEntry] = []
    for one_topic_id, name in topic_rows:
        entries += _topic_listing(db, one_topic_id, name, moment)
    if not entries:
        raise NotFound(_nothing_before(db, moment, topic_id))
    return entries


def _topic_listing(
    db: sqlite_utils.Database, topic_id: int, name: str, moment: str
) -> list[AsofEntry]:
    listing = db.execute(
        "SELECT id, run_id, observed_at FROM listings WHERE topic_id = ? AND observed_at <= ?"
        " ORDER BY observed_at DESC, id DESC LIMIT 1",
        [topic_id, moment],
    ).fetchone()
    if listing is None:
        return []
    listing_id, run_id, observed_at = listing
    rows = db.execute(
        "SELECT e.position, e.page, i.id, i.url, coalesce(v.headline, i.headline),"
        " coalesce(v.summary, i.summary), i.published_at, coalesce(v.version, i.version),"
        " coalesce(v.observed_at, i.first_seen_at)"
        " FROM listing_entries AS e JOIN items AS i ON i.id = e.item_id"
        " LEFT JOIN item_versions AS v ON v.id = (SELECT w.id FROM item_versions AS w"
        " WHERE w.item_id = e.item_id AND w.observed_at <= ? ORDER BY w.version DESC LIMIT 1)"
        " WHERE e.listing_id = ? ORDER BY e.position",
        [moment, listing_id],
    ).fetchall()
    return [AsofEntry(name, observed_at, run_id, *row) for row in rows]


def _nothing_before(db: sqlite_utils.Database, moment: str, topic_id: int | None) -> str:
    first = db.execute(
        "SELECT min(observed_at) FROM listings WHERE ? IS NULL OR topic_id = ?",
        [topic_id, topic_id],
    ).fetchone()[0]
    scope = "the topic" if topic_id is not None else "any topic"
    if first is None:
        return f"no listing of {scope} has been archived yet"
    return f"no listing of {scope} was archived at or before {moment} (the first is from {first})"
