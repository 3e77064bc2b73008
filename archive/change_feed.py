"""What changed, newest first: the ``changes`` table joined to what an analyst reads.

Edited rows carry the text before the edit, so "which summaries were rewritten, and
how?" is one query; ``changes_kind_at`` (kind, at) and ``changes_at`` keep a
newest-first page of a large archive an index range scan, with a topic too: the changes
stay the outer loop (``CROSS JOIN``), read newest first until the page is full, rather
than every change of every run of the topic being read and sorted (80 ms at 1M items).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from topicwatch.archive.timestamps import iso

KINDS = ("new", "edited", "vanished", "reappeared")


@dataclass(frozen=True)
class Change:
    """One change; ``headline``/``summary`` are the item's text at that version."""

    id: int
    at: str
    kind: str
    fields: tuple[str, ...]
    topic: str
    item_id: int
    url: str
    headline: str
    summary: str
    published_at: str
    first_seen_at: str
    version: int | None
    run_id: int
    headline_before: str | None = None
    summary_before: str | None = None

    def edits(self) -> list[tuple[str, str, str]]:
        """(field, before, after) of each text an edit changed; none for other kinds."""
        pairs = (
            ("headline", self.headline_before, self.headline),
            ("summary", self.summary_before, self.summary),
        )
        return [(name, before, after) for name, before, after in pairs
                if before is not None and before != after]  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The change as ``--json`` and payloads give it: ``change_id``, then every field."""
        data = asdict(self)
        return {"change_id": data.pop("id"), **data, "fields": list(self.fields)}


def list_changes(
    db: sqlite_utils.Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: Sequence[str] = (),
    topic_id: int | None = None,
    limit: int | None = None,
) -> list[Change]:
    """Changes in ``[since, until]`` of the given kinds and topic, newest first."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown change kinds: {sorted(unknown)}")
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if since is not None:
        where.append("c.at >= ?")
        params.append(iso(since))
    if until is not None:
        where.append("c.at <= ?")
        params.append(iso(until))
    if kinds:
        where.append(f"c.kind IN ({','.join('?' * len(kinds))})")
        params += list(kinds)
    if topic_id is not None:
        where.append("r.topic_id = ?")
        params.append(topic_id)
    sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY c.at DESC, c.id DESC LIMIT ?"
    return _changes(db.execute(sql, [*params, -1 if limit is None else limit]).fetchall())


def changes_by_id(db: sqlite_utils.Database, ids: Sequence[int]) -> list[Change]:
    """The changes ``ids`` (those that exist), oldest first."""
    marks = ",".join("?" * len(ids))
    sql = f"{_SELECT} WHERE c.id IN ({marks}) ORDER BY c.id"
    return _changes(db.execute(sql, list(ids)).fetchall())


_SELECT = (
    "SELECT c.id, c.at, c.kind, c.fields, coalesce(t.name, r.topic), c.item_id, i.url,"
    " coalesce(v.headline, i.headline), coalesce(v.summary, i.summary), i.published_at,"
    " i.first_seen_at, c.version, c.run_id, p.headline, p.summary"
    " FROM changes AS c CROSS JOIN crawl_runs AS r ON r.id = c.run_id"
    " LEFT JOIN topics AS t ON t.id = r.topic_id JOIN items AS i ON i.id = c.item_id"
    " LEFT JOIN item_versions AS v ON v.item_id = c.item_id AND v.version = c.version"
    " LEFT JOIN item_versions AS p ON c.kind = 'edited' AND p.item_id = c.item_id"
    " AND p.version = c.version - 1"
)


def _changes(rows: list[tuple[Any, ...]]) -> list[Change]:
    return [
        Change(change_id, at, kind, tuple(filter(None, fields.split(","))), *rest)
        for change_id, at, kind, fields, *rest in rows
    ]
