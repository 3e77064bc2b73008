"""The archive's memory of a topic, shipped to a Scrapyd node as one spider argument.

A node has no archive: what a crawl asks of it (known URLs, page validators, the previous
listing, URL aliases, pending article pages, the body each page was last parsed from and
how, and whether a listed card differs from the stored item: a short hash of each field's
comparison key) travels with the job, as JSON
compressed with zlib and base64-encoded. A spider argument of 128 KiB or more makes the
job vanish without a log line (``spawnProcess`` fails with E2BIG), so :func:`encode`
refuses anything over the caller's limit (:class:`MemoryTooLarge`) and the daemon crawls
that topic locally.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from typing import Any

import sqlite_utils

from topicwatch.archive.crawl_memory import previous_listing, topic_id_of, topic_memory
from topicwatch.archive.enrichment import MAX_ATTEMPTS, pending_urls
from topicwatch.archive.text import comparison_key

HASH_CHARS = 12  # of a field's comparison-key sha1: enough to tell an edit, small to ship
ARGUMENT_HARD_LIMIT = 120 * 1024  # under the kernel's 128 KiB per argument, with room


class MemoryTooLarge(ValueError):
    """The encoded memory is over the limit: crawl the topic locally instead."""


def node_memory(db: sqlite_utils.Database, topic_url: str, enrich_max: int) -> dict[str, Any]:
    """What a node's crawl of ``topic_url`` needs from the archive, as plain JSON data."""
    memory = topic_memory(db, topic_url)
    topic_id = topic_id_of(db, topic_url)
    items: dict[str, list[Any]] = {}
    aliases: dict[str, str] = {}
    if topic_id is not None:
        for url, headline, summary, enriched, attempts in db.execute(
            "SELECT i.url, i.headline, i.summary, e.enriched_at IS NOT NULL,"
            " coalesce(e.attempts, 0)"
            " FROM topic_items t JOIN items i ON i.id = t.item_id"
            " LEFT JOIN enrichment e ON e.item_id = i.id WHERE t.topic_id = ?",
            [topic_id],
        ):
            pending = not enriched and attempts < MAX_ATTEMPTS
            items[url] = [key_hash(headline), key_hash(summary), pending]
        aliases = dict(
            db.execute(
                "SELECT a.alias, a.url FROM url_aliases a JOIN items i ON i.url = a.url"
                " JOIN topic_items t ON t.item_id = i.id WHERE t.topic_id = ?",
                [topic_id],
            ).fetchall()
        )
    return {
        "known": sorted(memory.known_urls),
        "pages": {
            url: [page.etag, page.last_modified, page.item_count, page.body_sha256, page.extraction]
            for url, page in memory.pages.items()
        },
        "listed": [
            [item.item_id, item.url, item.last_position, item.vanished]
            for item in previous_listing(db, topic_url)
        ],
        "pending": pending_urls(db, topic_id, enrich_max) if topic_id else [],
        "items": items,
        "aliases": aliases,
    }


def key_hash(text: str) -> str:
    """A short hash of a field's comparison key (archive.text): equal keys, no edit."""
    return hashlib.sha1(comparison_key(text).encode("utf-8")).hexdigest()[:HASH_CHARS]


def encode(value: Any, limit: int) -> str:
    """``value`` as JSON, zlib-compressed and base64-encoded; MemoryTooLarge over ``limit``."""
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text = base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
    if len(text) > min(limit, ARGUMENT_HARD_LIMIT):
        raise MemoryTooLarge(
            f"the topic's memory is {len(text) / 1024:.0f} KiB encoded, over the"
            f" {min(limit, ARGUMENT_HARD_LIMIT) / 1024:.0f} KiB a spider argument may carry"
        )
    return text


def decode(text: str) -> Any:
    """What :func:`encode` made."""
    return json.loads(zlib.decompress(base64.b64decode(text)))
