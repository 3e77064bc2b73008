"""Reads the crawler needs from the archive (analysts' queries live in their own module)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from archive.changes import KnownItem, Sighting, compare_text
from archive.verdict import RECENT_RUNS


@dataclass(frozen=True)
class PageMemory:
    """What the last successful run learned about one listing page URL."""

    etag: str | None
    last_modified: str | None
    item_count: int


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
        url: PageMemory(etag, last_modified, len(json.loads(item_urls)))
        for url, etag, last_modified, item_urls in db.execute(
            "SELECT url, etag, last_modified, item_urls FROM listing_pages WHERE topic_id = ?",
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


def needs_article(db: sqlite_utils.Database, url: str, headline: str, summary: str) -> bool:
    """Whether a listed article is new or edited, so its article page is worth a fetch.

    Known, unchanged articles are never fetched again: enrichment costs one request per
    new or edited item, not one per item per run.
    """
    row = db.execute(
        "SELECT id, url, headline, summary, content_hash FROM items WHERE url = ?"
        " OR url = (SELECT url FROM url_aliases WHERE alias = ?)",
        [url, url],
    ).fetchone()
    if row is None:
        return True
    known = KnownItem(row[0], row[1], row[2], row[3], row[4])
    return compare_text(known, Sighting(url, headline, summary, "", 0, 0)) is not None


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
    """One ``crawl_runs`` row as a dict (raises KeyError when absent)."""
    cursor = db.execute("SELECT * FROM crawl_runs WHERE id = ?", [run_id])
    row = cursor.fetchone()
    if row is None:
        raise KeyError(run_id)
    return dict(zip([c[0] for c in cursor.description], row, strict=True))
