"""The topics an archive follows, as an operator manages them: list, rename, retire.

A mistyped URL or a tag the site dropped would otherwise stay in ``status`` and ``gaps``
for good. Retiring keeps everything the topic archived (runs, items, changes: history is
never deleted) and only takes it out of those two views; crawling it again, by hand or
because the daemon's config still lists it, makes it active again. Renaming changes the
label only (the URL is the identity); the daemon's config names its topics, so a rename
that the config contradicts is undone at the daemon's next start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from topicwatch.archive.db import write_transaction
from topicwatch.archive.errors import ArchiveError
from topicwatch.archive.lookup import find_topic
from topicwatch.archive.timestamps import iso


@dataclass(frozen=True)
class TopicSummary:
    """One topic as ``topicwatch topics`` lists it."""

    name: str
    url: str
    created_at: str
    retired_at: str | None
    runs: int
    last_run_at: str | None
    last_status: str | None
    listed: int  # items on its latest listing (not vanished)


def list_topics(db: sqlite_utils.Database) -> list[TopicSummary]:
    """Every topic, active ones first, by name."""
    rows = db.execute(
        "SELECT t.name, t.url, t.created_at, t.retired_at,"
        " (SELECT count(*) FROM crawl_runs AS r WHERE r.topic_id = t.id),"
        " (SELECT r.started_at FROM crawl_runs AS r WHERE r.topic_id = t.id"
        "  ORDER BY r.id DESC LIMIT 1),"
        " (SELECT r.status FROM crawl_runs AS r WHERE r.topic_id = t.id"
        "  ORDER BY r.id DESC LIMIT 1),"
        " (SELECT count(*) FROM topic_items AS ti WHERE ti.topic_id = t.id"
        "  AND ti.vanished_at IS NULL)"
        " FROM topics AS t ORDER BY t.retired_at IS NOT NULL, t.name"
    ).fetchall()
    return [TopicSummary(*row) for row in rows]


def rename_topic(db: sqlite_utils.Database, name_or_url: str, new_name: str) -> str:
    """Give a topic another label; returns its old name. Names are unique."""
    new_name = new_name.strip()
    if not new_name:
        raise ArchiveError("a topic name cannot be empty")
    topic = find_topic(db, name_or_url)
    holder = db.execute("SELECT url FROM topics WHERE name = ?", [new_name]).fetchone()
    if holder is not None and holder[0] != topic.url:
        raise ArchiveError(f"the name {new_name!r} is taken by {holder[0]}")
    with write_transaction(db):
        db.execute("UPDATE topics SET name = ? WHERE id = ?", [new_name, topic.id])
    return topic.name


def retire_topic(db: sqlite_utils.Database, name_or_url: str, now: datetime) -> str:
    """Take a topic out of ``status`` and ``gaps``; returns its name. Idempotent."""
    topic = find_topic(db, name_or_url)
    with write_transaction(db):
        db.execute(
            "UPDATE topics SET retired_at = coalesce(retired_at, ?) WHERE id = ?",
            [iso(now), topic.id],
        )
    return topic.name


def restore_topic(db: sqlite_utils.Database, name_or_url: str) -> str:
    """Make a retired topic active again; returns its name."""
    topic = find_topic(db, name_or_url)
    with write_transaction(db):
        db.execute("UPDATE topics SET retired_at = NULL WHERE id = ?", [topic.id])
    return topic.name
