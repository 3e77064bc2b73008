"""Reads the crawler needs from the archive (analysts' queries live in their own module)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from topicwatch.archive.changes import ListedItem
from topicwatch.archive.layout_guard import RECENT_RUNS


@dataclass(frozen=True)
class PageMemory:
    """What the last successful run learned about one listing page URL: its validators,
    and the body it parsed and how (a fetch of the same body to be read the same way is
    unchanged, as a 304 is)."""

    etag: str | None
    last_modified: str | None
    item_count: int
    body_sha256: str | None = None
    extraction: str | None = None


@dataclass(frozen=True)
class TopicMemory:
    """What a crawl of a topic needs to know before it starts.

    ``known_urls`` drives continuity paging (stop at the first page holding a known item);
    ``pages`` drives conditional GET. Plain data, so the spider needs no archive import.
    """

    known_urls: frozenset[str] = frozenset()
    pages: dict[str, PageMemory] = field(default_factory=dict)


def topic_memory(db: sqlite_utils.Database, topic_url: str) -> TopicMemory:
    """The known items and page validators of the topic at ``topic_url`` (empty if new)."""
    row = db.execute("SELECT id FROM topics WHERE url = ?", [topic_url]).fetchone()
    if row is None:
        return TopicMemory()
    topic_id = row[0]
    known = frozenset(
        url
        for (url,) in db.execute(
            "SELECT i.url FROM topic_items t JOIN items i ON i.id = t.item_id WHERE t.topic_id = ?",
            [topic_id],
        )
    )
    pages = {
        url: PageMemory(etag, modified, len(json.loads(item_urls)), body, extraction)
        for url, etag, modified, item_urls, body, extraction in db.execute(
            "SELECT url, etag, last_modified, item_urls, body_sha256, extraction"
            " FROM listing_pages WHERE topic_id = ?",
            [topic_id],
        )
    }
    return TopicMemory(known, pages)


def page_memory(db: sqlite_utils.Database, page_url: str) -> PageMemory | None:
    """What the last successful run learned about one listing page (None if never read).

    One row, unlike :func:`topic_memory`: the daemon asks this before every check and
    must not load every URL a topic ever listed to do so.
    """
    row = db.execute(
        "SELECT etag, last_modified, item_urls FROM listing_pages WHERE url = ?", [page_url]
    ).fetchone()
    if row is None:
        return None
    etag, last_modified, item_urls = row
    return PageMemory(etag, last_modified, len(json.loads(item_urls)))


def listed_items(db: sqlite_utils.Database, topic_id: int) -> list[ListedItem]:
    """Items the topic's previous ok run listed (with their positions then), and vanished ones.

    "Previous" is by run sequence, never by wall-clock time: a clock set back must not hide
    the last listing. Positions are only comparable within one run: an item last seen
    three runs ago on a page later runs did not read has a stale position, so it is
    neither evidence for nor a candidate of a retraction until a run sees it again.
    """
    # Two halves, each found in the index topic_items_last_run (an OR would read every item
    # the topic ever listed); sorted in Python, so that SQLite keeps to that index.
    select = (
        "SELECT t.item_id, i.url, t.last_position, t.vanished_at IS NOT NULL"
        " FROM topic_items t JOIN items i ON i.id = t.item_id WHERE t.topic_id = ?1"
    )
    rows = db.execute(
        f"{select} AND t.vanished_at IS NULL AND t.last_run_id = (SELECT max(last_run_id)"
        " FROM topic_items WHERE topic_id = ?1 AND vanished_at IS NULL)"
        f" UNION ALL {select} AND t.vanished_at IS NOT NULL",
        [topic_id],
    )
    return [ListedItem(item_id, url, pos, bool(gone)) for item_id, url, pos, gone in sorted(rows)]


def previous_listing(db: sqlite_utils.Database, topic_url: str) -> list[ListedItem]:
    """:func:`listed_items` of the topic at ``topic_url`` ([] for a topic never crawled)."""
    topic_id = topic_id_of(db, topic_url)
    return listed_items(db, topic_id) if topic_id is not None else []


def topic_id_of(db: sqlite_utils.Database, topic_url: str) -> int | None:
    row = db.execute("SELECT id FROM topics WHERE url = ?", [topic_url]).fetchone()
    return None if row is None else int(row[0])


def previous_ok_run(db: sqlite_utils.Database, topic_id: int) -> tuple[int, str] | None:
    """The topic's latest ok crawl run (id, started_at), latest by run sequence.

    By id, never by time: a clock set back makes a later run look older.
    """
    row = db.execute(
        "SELECT id, started_at FROM crawl_runs WHERE topic_id = ? AND status = 'ok'"
        " AND mode = 'crawl' ORDER BY id DESC LIMIT 1",
        [topic_id],
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def recent_first_page_counts(db: sqlite_utils.Database, topic_id: int) -> list[int]:
    """First-page item counts of the topic's recent ok runs that parsed page 1."""
    return [
        count
        for (count,) in db.execute(
            "SELECT first_page_items FROM crawl_runs WHERE topic_id = ? AND status = 'ok'"
            " AND first_page_items IS NOT NULL ORDER BY id DESC LIMIT ?",
            [topic_id, RECENT_RUNS],
        )
    ]


def run_row(db: sqlite_utils.Database, run_id: int) -> dict[str, Any]:
    """One ``crawl_runs`` row as a dict (raises KeyError when absent).

    A plain SELECT: sqlite-utils' ``table.get`` first reads the schema (four statements),
    which was a tenth of a warm worker's check of an unchanged page."""
    cursor = db.execute("SELECT * FROM crawl_runs WHERE id = ?", [run_id])
    row = cursor.fetchone()
    if row is None:
        raise KeyError(run_id)
    return dict(zip([column[0] for column in cursor.description], row, strict=True))
