"""Article enrichment: what an item's own page adds to its card, and which items still need it.

Listing cards on some sites show only a summary; the article page carries the headline,
the publication time, tags and the ``rel=canonical`` URL. Reading article pages is
best-effort with a budget per run (a site whose article pages hang must not keep the
listing from being archived), so an item whose page was not read this run stays
*pending* in the ``enrichment`` table and is read on a later run.

The listing stays authoritative for what it shows: the topic page is what we archive, and
preferring the article's title would make every run look like an edit. The article only
fills fields the card left empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import sqlite_utils

from topicwatch.archive.aliases import canonical_urls
from topicwatch.archive.batches import chunks
from topicwatch.archive.changes import KnownItem, Sighting, compare_text
from topicwatch.archive.published import more_precise

MAX_ATTEMPTS = 3  # an article page that failed this often is left alone


@dataclass(frozen=True)
class Article:
    """What an item's article page says about itself (fields empty when it does not say)."""

    listing_url: str
    canonical_url: str = ""
    headline: str = ""
    published_at: str = ""
    tags: tuple[str, ...] = ()


def with_article(sighting: Sighting, article: Article | None) -> Sighting:
    """The card's own text, with the fields it left empty filled from the article page
    (and its time of publication where the card showed only a date)."""
    if article is None:
        return sighting
    return replace(
        sighting,
        headline=sighting.headline or article.headline,
        published_at=more_precise(sighting.published_at, article.published_at),
        tags=article.tags or sighting.tags,
    )


def needing_articles(db: sqlite_utils.Database, cards: Sequence[tuple[str, str, str]]) -> list[str]:
    """The listed URLs (of ``(url, headline, summary)`` cards) whose article page is worth
    a fetch, in order: new, edited, or still pending.

    Known, unchanged, enriched articles are never fetched again: enrichment costs one
    request per new or edited item, not one per item per run. One query per page of
    cards, not one per card.
    """
    canonical = canonical_urls(db, [url for url, _, _ in cards])
    items = {canonical.get(url, url) for url, _, _ in cards}
    known: dict[str, tuple[KnownItem, bool]] = {}
    for chunk in chunks(sorted(items)):
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            "SELECT i.id, i.url, i.headline, i.summary, i.content_hash, e.enriched_at,"
            " coalesce(e.attempts, 0) FROM items AS i LEFT JOIN enrichment AS e"
            f" ON e.item_id = i.id WHERE i.url IN ({marks})",
            list(chunk),
        ):
            pending = row[5] is None and row[6] < MAX_ATTEMPTS
            known[row[1]] = (KnownItem(*row[:5]), pending)
    wanted = []
    for url, headline, summary in cards:
        item = known.get(canonical.get(url, url))
        if (
            item is None
            or item[1]
            or compare_text(item[0], Sighting(url, headline, summary, "", 0, 0)) is not None
        ):
            wanted.append(url)
    return wanted


def pending_urls(db: sqlite_utils.Database, topic_id: int, limit: int) -> list[str]:
    """URLs of the topic's listed items whose article page is still to be read, newest first."""
    return [
        str(url)
        for (url,) in db.execute(
            "SELECT i.url FROM topic_items AS t JOIN items AS i ON i.id = t.item_id"
            " LEFT JOIN enrichment AS e ON e.item_id = i.id WHERE t.topic_id = ?"
            " AND t.vanished_at IS NULL AND e.enriched_at IS NULL"
            " AND coalesce(e.attempts, 0) < ? ORDER BY i.first_seen_at DESC, i.id DESC LIMIT ?",
            [topic_id, MAX_ATTEMPTS, limit],
        )
    ]


def pending_count(db: sqlite_utils.Database, topic_id: int) -> int:
    """How many of the topic's listed items still wait for their article page."""
    row = db.execute(
        "SELECT count(*) FROM topic_items AS t LEFT JOIN enrichment AS e ON e.item_id = t.item_id"
        " WHERE t.topic_id = ? AND t.vanished_at IS NULL AND e.enriched_at IS NULL"
        " AND coalesce(e.attempts, 0) < ?",
        [topic_id, MAX_ATTEMPTS],
    ).fetchone()
    return int(row[0])


def record_attempts(
    db: sqlite_utils.Database,
    ids: Mapping[str, int],
    read: Iterable[str],
    failed: Mapping[str, str],
    new: Iterable[str],
    now: str,
) -> None:
    """Write what this run did about article pages (inside the caller's transaction).

    ``read``: URLs whose article page was read; ``failed``: URL -> error of pages that
    could not be; ``new``: items archived this run, pending until their page is read.
    """
    db.conn.executemany(
        "INSERT INTO enrichment (item_id) VALUES (?) ON CONFLICT (item_id) DO NOTHING",
        [(ids[url],) for url in new if url in ids],
    )
    db.conn.executemany(
        "INSERT INTO enrichment (item_id, attempts, last_attempt_at, enriched_at)"
        " VALUES (?1, 1, ?2, ?2) ON CONFLICT (item_id) DO UPDATE SET"
        " attempts = attempts + 1, last_attempt_at = ?2, enriched_at = ?2, last_error = NULL",
        [(ids[url], now) for url in read if url in ids],
    )
    db.conn.executemany(
        "INSERT INTO enrichment (item_id, attempts, last_attempt_at, last_error)"
        " VALUES (?1, 1, ?2, ?3) ON CONFLICT (item_id) DO UPDATE SET"
        " attempts = attempts + 1, last_attempt_at = ?2, last_error = ?3",
        [(ids[url], now, error[:300]) for url, error in failed.items() if url in ids],
    )
