"""What the topic spider yields. Items are dataclasses (Scrapy's item adapter supports them).

``ListingItem`` is the article as listed; it travels inside its ``ListingPage`` (one
Scrapy item per page, not per card: Scrapy's per-item machinery costs more than reading
a card, see docs/benchmarks.md). The others carry the page-level facts the archive needs
(validators, 304s, failures, where paging stopped) through the same pipeline, so the
spider never touches the archive. Each names the topic run it belongs to (``run_id``):
a crawl process may read several topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class ListingItem:
    """One article card of a topic listing."""

    url: str
    headline: str
    summary: str
    published_at: str
    position: int
    page: int
    truncated: tuple[str, ...] = ()  # fields cut to their length cap


@dataclass
class ListedCard:
    """One listed item as a feed-export record (``scrapy crawl topic -o items.jsonl``).

    Yielded only when the crawl has feeds (``FEEDS``, ``-o``), which then take only these
    (:mod:`crawler.feeds`): a ListingPage carries the page's bytes, which no exporter can
    write, and one record per page is not what a user exporting items wants. The pipeline
    passes them through untouched; the archive never sees them.
    """

    url: str
    headline: str
    summary: str
    published_at: str
    position: int
    page: int
    topic: str


@dataclass
class ListingPage:
    """One listing page fetched, with its cards in listing order.

    ``unchanged``: the page holds what it held when last parsed (a 304, or the very body
    last parsed, to be read the same way), so it carries no cards. ``body_sha256`` and
    ``extraction`` say which body a parsed page was read from, and how.
    """

    url: str
    page: int
    status: int
    etag: str | None
    last_modified: str | None
    item_count: int
    method: str = ""
    diagnostics: str = ""
    body: bytes | None = None
    content_type: str | None = None
    fetched_at: datetime | None = None
    items: tuple[ListingItem, ...] = ()
    cleaned: int = 0  # card fields the extractor cut, repaired or dropped
    run_id: int = 0  # the topic run it belongs to (crawler.runs)
    unchanged: bool = False
    body_sha256: str | None = None
    extraction: str | None = None


@dataclass
class PageFailure:
    """A listing page that could not be fetched or trusted; the run must fail."""

    url: str
    page: int
    reason: str
    error: str
    run_id: int = 0  # the topic run it belongs to (crawler.runs)


@dataclass
class PagingEnd:
    """Why paging stopped: ``gap_suspected`` when the page limit came before known items;
    ``still_looking`` when it came while the spider still wanted to read on (a missing
    item, an unconfirmed listing)."""

    reason: str
    gap_suspected: bool
    still_looking: bool = False
    run_id: int = 0  # the topic run it belongs to (crawler.runs)


@dataclass
class ArticleDetails:
    """What a new or edited item's article page says (enrichment)."""

    listing_url: str
    canonical_url: str
    headline: str
    published_at: str
    tags: tuple[str, ...]
    url: str = ""
    status: int = 200
    body: bytes | None = None
    content_type: str | None = None
    fetched_at: datetime | None = None
    run_id: int = 0  # the topic run it belongs to (crawler.runs)


@dataclass
class ArticleFailure:
    """An article page that could not be fetched: recorded, never fatal to the run.

    ``skipped``: not even tried, the run's enrichment budget being spent (still pending).
    """

    listing_url: str
    error: str
    skipped: bool = False
    run_id: int = 0  # the topic run it belongs to (crawler.runs)


class FeedRecord(dict):  # type: ignore[type-arg]
    """One record of a Scrapyd job's feed (archive.run_feed): the only items its feed takes."""


@dataclass
class RunComplete:
    """The last item of a topic run: every request it sent was answered, so its pipeline
    may commit it (yielded after the run's other items, so they reached it first)."""

    run_id: int
