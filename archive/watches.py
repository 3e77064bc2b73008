"""Watches: which committed changes each watch has matched, and their delivery outbox.

A watch matches the changes committed after it was first registered: registering records
the archive's newest change id as its high-water mark, and :func:`queue_changes` reads
the changes beyond the mark, queues the ones that match (one outbox row per destination)
and moves the mark, in one transaction. ``UNIQUE (watch, destination, change_id)`` makes
queueing idempotent, so the daemon and ``topicwatch watches send`` may both match: each
change is queued once per watch and destination, whoever matches it, whatever crashes.
Only ok runs write changes (a run's changes and its ``ok`` commit together), so a failed
run never notifies. Delivery is at-least-once in one narrow window only: a crash after a
destination accepted a message and before :func:`mark_delivery` recorded it resends it
(the payload's ``idempotency_key`` lets a receiver drop the copy). Times are handed in.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from topicwatch.archive.change_feed import KINDS, Change, changes_by_id, list_changes
from topicwatch.archive.db import write_transaction
from topicwatch.archive.lock import file_lock, lock_dir
from topicwatch.archive.search import query_words, text_matches
from topicwatch.archive.timestamps import iso

WATCH_ATTEMPTS = 10  # failed deliveries before a row is given up (~8.5 h of backoff)
FIRST_RETRY = 30.0  # seconds; doubled at each failure
MAX_RETRY = 3600.0
FEED_SCAN = 1000  # newest changes of a watch's kinds a live feed looks through


class DeliveryBusy(Exception):
    """Another process is delivering watches on this archive right now."""


@dataclass(frozen=True)
class WatchRule:
    """What the archive needs of a configured watch: what it matches, where it goes."""

    name: str
    kinds: tuple[str, ...] = KINDS
    topics: tuple[str, ...] | None = None  # None: every topic
    query: str | None = None
    digest: float = 0.0  # seconds; 0 sends each change at once
    destinations: tuple[str, ...] = ()  # destination keys (no secrets)

    def matches(self, kind: str, topic: str, headline: str, summary: str) -> bool:
        if kind not in self.kinds or (self.topics is not None and topic not in self.topics):
            return False
        return self.query is None or text_matches(query_words(self.query), headline, summary)

    def definition(self) -> str:
        """The rule as JSON, stored so that ``serve`` can build the watch's feed."""
        return json.dumps(
            {"kinds": self.kinds, "topics": self.topics, "query": self.query,
             "digest": self.digest, "destinations": self.destinations},
            ensure_ascii=False,
        )  # fmt: skip


@dataclass(frozen=True)
class Delivery:
    """One message to send: one change, or a digest's changes, for one destination."""

    watch: str
    destination: str
    outbox_ids: tuple[int, ...]
    changes: list[Change] = field(default_factory=list)
    attempts: int = 0

    @property
    def key(self) -> str:
        """Stable across retries and restarts: a receiver can drop a resent copy."""
        return f"{self.watch}/{self.destination}/{self.outbox_ids[0]}-{self.outbox_ids[-1]}"


@dataclass(frozen=True)
class WatchState:
    """A registered watch as ``topicwatch watches`` shows it."""

    name: str
    registered_at: str
    high_water: int
    last_delivery_at: str | None
    last_error: str | None
    pending: int  # changes matched and not yet sent to every destination
    failed: int  # changes given up for some destination


def delivery_lock(
    archive_path: str | os.PathLike[str], wait: float = 0.0
) -> AbstractContextManager[None]:
    """Held while delivering: the daemon and ``watches send`` never send the same row."""

    def busy(holder: str) -> Exception:
        return DeliveryBusy(f"process {holder} is delivering watches on {archive_path}")

    return file_lock(lock_dir(archive_path) / "watches.lock", busy, wait=wait)


def register_watches(
    db: sqlite_utils.Database, rules: Sequence[WatchRule], now: datetime
) -> list[str]:
    """Record the watches; a new one starts at the newest change (no history). Returns
    the names registered now for the first time."""
    with write_transaction(db):
        known = {name for (name,) in db.execute("SELECT name FROM watches")}
        top = db.execute("SELECT coalesce(max(id), 0) FROM changes").fetchone()[0]
        db.conn.executemany(
            "INSERT INTO watches (name, registered_at, definition, high_water, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " definition = excluded.definition, updated_at = excluded.updated_at",
            [(r.name, iso(now), r.definition(), top, iso(now)) for r in rules],
        )
    return [rule.name for rule in rules if rule.name not in known]


def queue_changes(db: sqlite_utils.Database, rules: Sequence[WatchRule], now: datetime) -> int:
    """Queue each registered watch's matching changes beyond its mark; return how many
    outbox rows were added. Idempotent: run it as often as wanted, from any process."""
    added = 0
    if not _behind(db, rules):
        return 0  # the usual heartbeat: no write transaction to wait for
    with write_transaction(db):
        for rule in rules:
            top, matched = unmatched(db, rule)
            if top is None:
                continue
            due = iso(digest_due(now, rule.digest))
            cursor = db.conn.executemany(
                "INSERT INTO watch_outbox (watch, destination, change_id, queued_at, due_at,"
                " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(rule.name, d, c, iso(now), due, due) for c in matched for d in rule.destinations],
            )
            added += max(cursor.rowcount, 0)
            db.execute(
                "UPDATE watches SET high_water = max(high_water, ?) WHERE name = ?",
                [top, rule.name],
            )
    return added


def _behind(db: sqlite_utils.Database, rules: Sequence[WatchRule]) -> bool:
    """Whether some change is newer than some registered watch's mark."""
    names = [rule.name for rule in rules]
    row = db.execute(
        f"SELECT (SELECT max(id) FROM changes) > min(high_water) FROM watches"
        f" WHERE name IN ({','.join('?' * len(names))})",
        names,
    ).fetchone()
    return bool(row and row[0])


def unmatched(db: sqlite_utils.Database, rule: WatchRule) -> tuple[int | None, list[int]]:
    """The newest change beyond the watch's mark (None: none, or not registered) and the
    ids of those beyond it that the watch matches, oldest first."""
    row = db.execute("SELECT high_water FROM watches WHERE name = ?", [rule.name]).fetchone()
    if row is None:
        return None, []
    changes = db.execute(
        "SELECT c.id, c.kind, coalesce(t.name, r.topic), coalesce(v.headline, i.headline),"
        " coalesce(v.summary, i.summary) FROM changes AS c"
        " JOIN crawl_runs AS r ON r.id = c.run_id LEFT JOIN topics AS t ON t.id = r.topic_id"
        " JOIN items AS i ON i.id = c.item_id LEFT JOIN item_versions AS v"
        " ON v.item_id = c.item_id AND v.version = c.version"
        " WHERE c.id > ? AND r.status = 'ok' ORDER BY c.id",
        [row[0]],
    ).fetchall()
    if not changes:
        return None, []
    return changes[-1][0], [c[0] for c in changes if rule.matches(*c[1:])]


def digest_due(now: datetime, period: float) -> datetime:
    """When a change queued ``now`` is sent: at once, or at the end of its period (periods
    counted from the Unix epoch in UTC, so ``1d`` digests go out at 00:00 UTC)."""
    if period <= 0:
        return now
    end = (math.floor(now.timestamp() / period) + 1) * period
    return datetime.fromtimestamp(end, UTC)


def due_deliveries(
    db: sqlite_utils.Database, rules: Sequence[WatchRule], now: datetime
) -> tuple[list[Delivery], list[int]]:
    """What to send now (a digest's due rows as one delivery per destination), and the
    pending rows whose watch or destination is no longer configured (to skip)."""
    by_name = {rule.name: rule for rule in rules}
    rows = db.execute(
        "SELECT id, watch, destination, change_id, attempts FROM watch_outbox"
        " WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id",
        [iso(now)],
    ).fetchall()
    groups: dict[tuple[str, str, int], list[tuple[int, int, int]]] = {}
    orphans = []
    for outbox_id, watch, destination, change_id, attempts in rows:
        rule = by_name.get(watch)
        if rule is None or destination not in rule.destinations:
            orphans.append(outbox_id)
            continue
        group = 0 if rule.digest else outbox_id
        groups.setdefault((watch, destination, group), []).append((outbox_id, change_id, attempts))
    deliveries = []
    for (watch, destination, _), members in groups.items():
        changes = changes_by_id(db, [change_id for _, change_id, _ in members])
        ids = tuple(outbox_id for outbox_id, _, _ in members)
        attempts = max(tries for _, _, tries in members)
        deliveries.append(Delivery(watch, destination, ids, changes, attempts))
    return deliveries, orphans


def mark_delivery(
    db: sqlite_utils.Database, delivery: Delivery, now: datetime, error: str | None = None
) -> None:
    """Record a delivery: sent, or failed (retried with backoff, given up after
    :data:`WATCH_ATTEMPTS`)."""
    ids = list(delivery.outbox_ids)
    marks = ",".join("?" * len(ids))
    retry = min(FIRST_RETRY * 2**delivery.attempts, MAX_RETRY)
    with write_transaction(db):
        if error is None:
            db.execute(
                "UPDATE watch_outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1,"
                f" last_error = NULL WHERE state = 'pending' AND id IN ({marks})",
                [iso(now), *ids],
            )
            db.execute(
                "UPDATE watches SET last_delivery_at = ?, last_error = NULL WHERE name = ?",
                [iso(now), delivery.watch],
            )
            return
        db.execute(
            "UPDATE watch_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,"
            " state = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'pending' END"
            f" WHERE state = 'pending' AND id IN ({marks})",
            [error, iso(now + timedelta(seconds=retry)), WATCH_ATTEMPTS, *ids],
        )
        db.execute("UPDATE watches SET last_error = ? WHERE name = ?", [error, delivery.watch])


def skip_rows(db: sqlite_utils.Database, ids: Iterable[int], reason: str) -> None:
    """Settle pending rows no destination is configured for any more."""
    with write_transaction(db):
        db.conn.executemany(
            "UPDATE watch_outbox SET state = 'skipped', last_error = ? WHERE id = ?"
            " AND state = 'pending'",
            [(reason, outbox_id) for outbox_id in ids],
        )


def watch_states(
    db: sqlite_utils.Database, rules: Sequence[WatchRule] = ()
) -> dict[str, WatchState]:
    """Every registered watch with its outbox counts; changes committed since the last
    matching count as pending for the watches among ``rules`` (read-only: nothing queued)."""
    rows = db.execute(
        "SELECT w.name, w.registered_at, w.high_water, w.last_delivery_at, w.last_error,"
        " (SELECT count(DISTINCT change_id) FROM watch_outbox AS o"
        " WHERE o.watch = w.name AND o.state = 'pending'),"
        " (SELECT count(DISTINCT change_id) FROM watch_outbox AS o"
        " WHERE o.watch = w.name AND o.state = 'failed')"
        " FROM watches AS w ORDER BY w.name"
    ).fetchall()
    states = {row[0]: WatchState(*row) for row in rows}
    for rule in rules:
        state = states.get(rule.name)
        if state is not None and rule.destinations:
            states[rule.name] = replace(state, pending=state.pending + len(unmatched(db, rule)[1]))
    return states


def stored_rule(db: sqlite_utils.Database, name: str) -> WatchRule | None:
    """The watch ``name`` as last registered, or None."""
    row = db.execute("SELECT definition FROM watches WHERE name = ?", [name]).fetchone()
    if row is None:
        return None
    data: dict[str, Any] = json.loads(row[0])
    topics = data.get("topics")
    return WatchRule(
        name, tuple(data["kinds"]), None if topics is None else tuple(topics), data.get("query"),
        float(data.get("digest", 0)), tuple(data.get("destinations", ())),
    )  # fmt: skip


def watch_feed_changes(db: sqlite_utils.Database, rule: WatchRule, limit: int = 50) -> list[Change]:
    """The newest changes the watch matches, newest first, for its live feed: among the
    :data:`FEED_SCAN` newest changes of its kinds."""
    changes = list_changes(db, kinds=rule.kinds, limit=FEED_SCAN)
    return [c for c in changes if rule.matches(c.kind, c.topic, c.headline, c.summary)][:limit]
