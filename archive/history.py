"""One item's whole story: every version with a character diff, its changes, its sightings.

Answers "how was this summary rewritten?" and "where and when did the page list it?".
Sightings come from ``topic_items`` (first/last listed, vanished) and ``listing_entries``
(the position in each stored listing, compressed into stretches at one position).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from topicwatch.archive.diff import Op, char_diff


@dataclass(frozen=True)
class Version:
    """One stored version, with the diff from the version before it (empty for v1)."""

    version: int
    observed_at: str
    run_id: int
    headline: str
    summary: str
    changed: tuple[str, ...] = ()
    headline_diff: list[Op] = field(default_factory=list)
    summary_diff: list[Op] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    """A row of ``changes`` for this item."""

    at: str
    kind: str
    topic: str
    run_id: int
    version: int | None
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Stretch:
    """Consecutive stored listings that showed the item at one position."""

    first_at: str
    last_at: str
    position: int
    page: int
    listings: int


@dataclass(frozen=True)
class TopicListing:
    """The item on one topic's listing: when first and last listed, where, and the
    stretches it stood there (``sightings`` in JSON; :class:`archive.changes.Sighting` is
    one card of one run, a different thing)."""

    topic: str
    first_listed_at: str
    last_listed_at: str
    vanished_at: str | None
    last_position: int
    last_page: int
    stretches: list[Stretch] = field(default_factory=list)


@dataclass(frozen=True)
class History:
    """Everything the archive knows about one item."""

    item: dict[str, Any]
    versions: list[Version]
    events: list[Event]
    sightings: list[TopicListing]


def item_history(db: sqlite_utils.Database, item_id: int) -> History:
    """The history of the item with id ``item_id`` (see :func:`archive.lookup.find_item_id`)."""
    item = db.table("items").get(item_id)
    return History(item, _versions(db, item_id), _events(db, item_id), _sightings(db, item_id))


def _versions(db: sqlite_utils.Database, item_id: int) -> list[Version]:
    rows = db.execute(
        "SELECT version, observed_at, run_id, headline, summary FROM item_versions"
        " WHERE item_id = ? ORDER BY version",
        [item_id],
    ).fetchall()
    versions: list[Version] = []
    for number, observed_at, run_id, headline, summary in rows:
        if not versions:
            versions.append(Version(number, observed_at, run_id, headline, summary))
            continue
        before = versions[-1]
        changed = tuple(
            name
            for name, old, new in (
                ("headline", before.headline, headline),
                ("summary", before.summary, summary),
            )
            if old != new
        )
        versions.append(
            Version(
                number,
                observed_at,
                run_id,
                headline,
                summary,
                changed,
                char_diff(before.headline, headline),
                char_diff(before.summary, summary),
            )
        )
    return versions


def _events(db: sqlite_utils.Database, item_id: int) -> list[Event]:
    rows = db.execute(
        "SELECT c.at, c.kind, coalesce(t.name, r.topic), c.run_id, c.version, c.fields"
        " FROM changes AS c JOIN crawl_runs AS r ON r.id = c.run_id"
        " LEFT JOIN topics AS t ON t.id = r.topic_id WHERE c.item_id = ? ORDER BY c.id",
        [item_id],
    ).fetchall()
    return [
        Event(at, kind, topic, run_id, version, tuple(filter(None, fields.split(","))))
        for at, kind, topic, run_id, version, fields in rows
    ]


def _sightings(db: sqlite_utils.Database, item_id: int) -> list[TopicListing]:
    rows = db.execute(
        "SELECT t.id, t.name, ti.first_listed_at, ti.last_listed_at, ti.vanished_at,"
        " ti.last_position, ti.last_page FROM topic_items AS ti"
        " JOIN topics AS t ON t.id = ti.topic_id WHERE ti.item_id = ? ORDER BY t.name",
        [item_id],
    ).fetchall()
    return [
        TopicListing(name, first, last, vanished, position, page, _stretches(db, topic_id, item_id))
        for topic_id, name, first, last, vanished, position, page in rows
    ]


def _stretches(db: sqlite_utils.Database, topic_id: int, item_id: int) -> list[Stretch]:
    """Runs of consecutive listings of the topic that showed the item at one position."""
    rows = db.execute(
        "SELECT l.id, l.observed_at, e.position, e.page,"
        " (SELECT max(p.id) FROM listings AS p WHERE p.topic_id = l.topic_id AND p.id < l.id)"
        " FROM listing_entries AS e JOIN listings AS l ON l.id = e.listing_id"
        " WHERE e.item_id = ? AND l.topic_id = ? ORDER BY l.id",
        [item_id, topic_id],
    ).fetchall()
    stretches: list[Stretch] = []
    previous_listing = None
    for listing_id, observed_at, position, page, listing_before in rows:
        last = stretches[-1] if stretches else None
        if (
            last is not None
            and listing_before == previous_listing
            and (last.position, last.page) == (position, page)
        ):
            stretches[-1] = Stretch(last.first_at, observed_at, position, page, last.listings + 1)
        else:
            stretches.append(Stretch(observed_at, observed_at, position, page, 1))
        previous_listing = listing_id
    return stretches
