"""A topic run inside a crawl: what to read, what the archive remembers, what was read.

A crawl process runs one topic run (``topicwatch crawl``) or many, one after another or
side by side (a warm crawl worker). Each run is a :class:`TopicRun`: its order, the
archive's memory of the topic (continuity paging, conditional GET, enrichment), the
requests it still waits for, and the items it collected. The spider reads pages for a
run, the pipeline collects the run's items and commits them when the run is complete, the
:mod:`crawler.extensions` extension opens runs (lock, run row, memory) and closes the ones a
shutdown interrupts.

Nothing here imports the archive or Scrapy's engine: runs are plain state, and the
spider asks for one through the :data:`run_wanted` signal, so it never touches storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from topicwatch.crawler.items import (
    ArticleDetails,
    ArticleFailure,
    ListingPage,
    PageFailure,
    PagingEnd,
)

# Sent by the spider with ``order=RunOrder``; the archive extension answers a TopicRun (or
# None when the topic is busy or the archive unusable: the reason is in the crawl's stats).
run_wanted = object()

# Sent by the pipeline around a run's commit, with ``run=TopicRun`` (and, once the run is
# on record, ``status`` and ``run_id``): what a long-lived crawl reports to its caller, and
# the moments a crash test kills a crawl between.
run_committing = object()
run_recorded = object()
# Sent by the archive extension when it opened a run (``run=TopicRun``) or could not
# (``order=RunOrder``, ``kind`` "busy" or "archive_error", ``error``): a crawl of many
# topics, or a warm worker, reports each order's outcome from these, not from the stats
# (one value per crawl).
run_opened = object()
run_refused = object()
# Sent by the archive extension once a run's lock and connection are let go (``run``):
# the moment another process may crawl the topic again, so the moment to report the run.
run_released = object()


@dataclass(frozen=True)
class RunOrder:
    """What one run reads: a topic listing and how far."""

    url: str
    topic: str = ""
    max_pages: int = 5
    exact_pages: int | None = None  # --pages N: read exactly N pages, unconditionally
    selectors: Any = None  # crawler.extract.Selectors
    allow_hosts: tuple[str, ...] = ()
    # Seconds the run may take before it is recorded failed (reason ``timeout``) and its
    # late responses ignored: in a process that runs many topics, one hanging site must
    # not hold the others' results, nor the process, for longer than this.
    timeout: float | None = None
    trigger: str = ""  # recorded in crawl_runs.trigger; "" means the crawl's own
    # A Scrapyd job's run (crawler.node_feed): the daemon's crawl_runs id, and the
    # archive's memory of the topic as the daemon shipped it (archive.shipped_memory).
    run_id: int = 0
    memory: Any = field(default=None, compare=False)


class CrawlMemory(Protocol):
    """What a run may ask the archive, without importing it."""

    known_urls: frozenset[str]
    pages: dict[str, Any]  # listing page URL -> its validators and item count
    pending_urls: list[str]

    def needing_articles(self, cards: list[tuple[str, str, str]]) -> list[str]: ...

    def wants_more(self, read: list[tuple[str, int]]) -> bool: ...


class NoMemory:
    """A run without an archive (``scrapy crawl topic -o items.jsonl``): everything is new."""

    known_urls: frozenset[str] = frozenset()
    pages: dict[str, Any] = {}  # noqa: RUF012 (read only)
    pending_urls: list[str] = []  # noqa: RUF012 (read only)

    def needing_articles(self, cards: list[tuple[str, str, str]]) -> list[str]:
        return [url for url, _, _ in cards]

    def wants_more(self, read: list[tuple[str, int]]) -> bool:
        return False


@dataclass
class TopicRun:
    """One run's state while its crawl is going on."""

    id: int
    order: RunOrder
    memory: CrawlMemory
    outstanding: int = 0  # requests sent for this run and not yet answered
    read: list[tuple[str, int]] = field(default_factory=list)  # (url, page) of items read
    articles_requested: set[str] = field(default_factory=set)
    pages: list[ListingPage] = field(default_factory=list)
    failures: list[PageFailure] = field(default_factory=list)
    paging_end: PagingEnd | None = None
    articles: dict[str, ArticleDetails] = field(default_factory=dict)
    article_failures: list[ArticleFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished: bool = False

    def collect(self, item: Any) -> None:
        """Keep what the spider yielded for this run, until the run is committed."""
        if isinstance(item, ListingPage):
            self.pages.append(item)
        elif isinstance(item, PageFailure):
            self.failures.append(item)
        elif isinstance(item, PagingEnd):
            self.paging_end = item
        elif isinstance(item, ArticleDetails):
            self.articles[item.listing_url] = item
        elif isinstance(item, ArticleFailure) and not item.skipped:
            self.article_failures.append(item)
