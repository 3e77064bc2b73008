"""Resolving what analysts type (a topic name, an item URL or id) to archive rows.

Every analysts' query starts here, so an unknown name or an archive with nothing in it
fails the same way everywhere: a :class:`NotFound` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlite_utils

from topicwatch.archive.db import ArchiveError


class NotFound(ArchiveError):
    """The archive holds no such topic or item, or nothing at all yet."""


@dataclass(frozen=True)
class Topic:
    """A topic row."""

    id: int
    name: str
    url: str


MAX_ROW_ID = 2**63 - 1  # SQLite's largest integer: a larger number names no row


def parse_row_id(text: str) -> int | None:
    """The row id ``text`` spells in ASCII digits, or None (not digits, or beyond SQLite's
    integers: binding such a number raises OverflowError rather than finding nothing)."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(MAX_ROW_ID)):  # before int(): it refuses 4,300+ digits
        return None
    number = int(digits)
    return number if number <= MAX_ROW_ID else None


def require_runs(db: sqlite_utils.Database) -> None:
    """Fail when no crawl has run: every answer would be empty and look like "no news"."""
    if db.execute("SELECT 1 FROM crawl_runs LIMIT 1").fetchone() is None:
        raise NotFound("the archive is empty: no crawl has run yet (run `topicwatch crawl`)")


def topics(db: sqlite_utils.Database) -> list[Topic]:
    """All topics, by name."""
    return [Topic(*row) for row in db.execute("SELECT id, name, url FROM topics ORDER BY name")]


def find_topic(db: sqlite_utils.Database, name_or_url: str) -> Topic:
    """The topic with this name or listing URL (a trailing slash is optional)."""
    wanted = name_or_url.strip()
    for topic in topics(db):
        if wanted in (topic.name, topic.url, topic.url.rstrip("/")):
            return topic
    known = ", ".join(topic.name for topic in topics(db)) or "none"
    raise NotFound(f"no topic {wanted!r} in the archive (topics: {known})")


def topic_id_or_none(db: sqlite_utils.Database, name_or_url: str | None) -> int | None:
    """:func:`find_topic`'s id, or None for "every topic"."""
    return None if name_or_url is None else find_topic(db, name_or_url).id


def find_item_id(db: sqlite_utils.Database, key: str, url_forms: Iterable[str] = ()) -> int:
    """The id of the item named by ``key``: a number (item id) or a URL.

    ``url_forms`` are other spellings of the URL to try (the CLI passes the crawler's
    canonical form, which the archive cannot compute without importing the crawler).
    """
    key = key.strip()
    if key.isascii() and key.isdigit():
        row_id = parse_row_id(key)
        row = (
            None
            if row_id is None
            else db.execute("SELECT id FROM items WHERE id = ?", [row_id]).fetchone()
        )
        if row is not None:
            return int(row[0])
        raise NotFound(f"no item with id {key}")
    candidates = [key, *url_forms]
    candidates += [c.rstrip("/") if c.endswith("/") else c + "/" for c in list(candidates)]
    for candidate in candidates:
        row = db.execute("SELECT id FROM items WHERE url = ?", [candidate]).fetchone()
        if row is not None:
            return int(row[0])
    raise NotFound(f"no item with URL {key}")
