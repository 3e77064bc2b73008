"""The archive pipeline: turn one spider run into one archived run.

It holds the topic's lock for the whole crawl (one writer per topic across processes),
records the run as ``running`` when the spider opens, collects what the spider yields,
and when the spider closes commits everything in one transaction, or records why not.
The commit happens on ``spider_closed`` because only that signal says *why* the spider
closed (finished, shutdown on SIGTERM, ...).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from twisted.python.failure import Failure

from topicwatch.archive import ArchiveError, TopicBusy, open_archive, topic_lock
from topicwatch.archive.changes import Sighting, continuity, dedupe, vanished_items
from topicwatch.archive.daemon_state import pid_alive
from topicwatch.archive.diagnose import explain
from topicwatch.archive.enrichment import Article, needs_article, pending_urls
from topicwatch.archive.queries import previous_listing, resolve_url, topic_id_of, topic_memory
from topicwatch.archive.runs import (
    begin_run,
    end_run_without_changes,
    recover_stale_runs,
    topic_name_for,
)
from topicwatch.archive.snapshots import Fetch, save_fetches
from topicwatch.archive.store import PageResult, RunReport, RunSummary, commit_run
from topicwatch.archive.urls import looks_like_article
from topicwatch.archive.verdict import confirmed
from topicwatch.crawler import EXTRACTOR_VERSION
from topicwatch.crawler.items import (
    ArticleDetails,
    ArticleFailure,
    ListingItem,
    ListingPage,
    PageFailure,
    PagingEnd,
)

logger = logging.getLogger(__name__)


class ArchiveMemory:
    """What the spider may ask the archive, without importing it (see the topic spider)."""

    def __init__(self, db: Any, topic_url: str, enrich_max: int) -> None:
        memory = topic_memory(db, topic_url)
        self.db = db
        self.known_urls = memory.known_urls
        self.pages = memory.pages
        self.listed = previous_listing(db, topic_url)
        topic_id = topic_id_of(db, topic_url)
        self.pending_urls = pending_urls(db, topic_id, enrich_max) if topic_id else []

    def needs_article(self, url: str, headline: str, summary: str) -> bool:
        return needs_article(self.db, url, headline, summary)

    def wants_more(self, read: list[tuple[str, int]]) -> bool:
        """Whether paging should read on from what was read so far: an item the topic
        listed last time is missing from the stretch read (it may only have moved down),
        or the stretch does not yet confirm the topic's previous listing (a burst of new
        items, or not the topic's list at all: archive.verdict)."""
        if not self.listed:
            return False
        sightings = dedupe(
            Sighting(resolve_url(self.db, url), "", "", "", index, page)
            for index, (url, page) in enumerate(read, start=1)
        )
        if vanished_items(sightings, self.listed):
            return True
        shape = continuity(sightings, self.listed, (), stopped_looking=False)
        return not confirmed(shape.kept_in_order, shape.previous_listed)


class ArchivePipeline:
    """Store the topic spider's listing in the archive (``TOPICWATCH_DB``)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.db_path = settings.get("TOPICWATCH_DB")
        self.trigger = settings.get("TOPICWATCH_TRIGGER", "manual")
        self.lock_wait = settings.getfloat("TOPICWATCH_LOCK_WAIT", 0.0)
        self.run_id: int | None = None
        self.items: list[ListingItem] = []
        self.pages: list[ListingPage] = []
        self.failures: list[PageFailure] = []
        self.paging_end: PagingEnd | None = None
        self.articles: dict[str, ArticleDetails] = {}
        self.article_failures: list[ArticleFailure] = []
        self.errors: list[str] = []
        self.resources = ExitStack()
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        return cls(crawler)

    @property
    def stats(self) -> Any:
        return self.crawler.stats

    def open_spider(self) -> None:
        spider: Any = self.crawler.spider
        try:
            self.resources.enter_context(topic_lock(self.db_path, spider.url, wait=self.lock_wait))
            self.db = open_archive(self.db_path)
        except (TopicBusy, ArchiveError) as error:
            self.resources.close()
            kind = "busy" if isinstance(error, TopicBusy) else "archive_error"
            self.stats.set_value(f"archive/{kind}", str(error))
            # topicwatch crawl reports it in one line; log it for `scrapy crawl` users.
            logger.log(logging.INFO if kind == "busy" else logging.ERROR, "%s", error)
            raise CloseSpider(kind) from error
        self.resources.callback(self.db.close)
        now = datetime.now(UTC)
        recover_stale_runs(self.db, now, is_alive=pid_alive)
        topic = spider.topic or topic_name_for(spider.url)
        self.run_id = begin_run(
            self.db,
            topic=topic,
            url=spider.url,
            trigger=self.trigger,
            started_at=now,
            pid=os.getpid(),
        )
        self.stats.set_value("archive/run_id", self.run_id)
        enrich_max = self.crawler.settings.getint("TOPICWATCH_ENRICH_MAX", 20)
        spider.memory = ArchiveMemory(self.db, spider.url, enrich_max)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ListingPage):
            self.pages.append(item)
            self.items.extend(item.items)
        elif isinstance(item, PageFailure):
            self.failures.append(item)
        elif isinstance(item, PagingEnd):
            self.paging_end = item
        elif isinstance(item, ArticleDetails):
            self.articles[item.listing_url] = item
        elif isinstance(item, ArticleFailure) and not item.skipped:
            logger.warning("article enrichment failed for %s: %s", item.listing_url, item.error)
            self.article_failures.append(item)
        return item

    def spider_error(self, failure: Failure, response: Any, spider: Spider) -> None:
        self.errors.append(
            f"{failure.type.__name__ if failure.type else 'error'}: "
            f"{failure.getErrorMessage()} ({response.url})"
        )

    def spider_closed(self, spider: Spider, reason: str) -> None:
        try:
            if self.run_id is not None:
                self._finish(reason)
        except sqlite3.Error as error:  # the outcome could not be written: crawl() records it
            problem = explain(Path(self.db_path), error)
            self.stats.set_value("archive/storage_error", str(problem))
            logger.error("%s", problem)
        finally:
            self.resources.close()

    def _finish(self, reason: str) -> None:
        assert self.run_id is not None
        now = datetime.now(UTC)
        outcome = self._unfinished(reason)
        if outcome is not None:
            self._fail(*outcome, now)
            return
        try:
            summary = commit_run(self.db, self.run_id, self._report(), now)
        except sqlite3.Error as error:
            # The archive refused the write (another writer past the busy timeout, a full
            # disk): the run is failed on record, never left `running` or half written.
            self._fail("failed", "storage", str(explain(Path(self.db_path), error)), now)
            return
        for note in summary.notes:
            logger.warning("%s", note)
        if summary.status != "ok":
            for page in self.pages:
                logger.error(
                    "page %s: %s; candidates: %s", page.page, page.method, page.diagnostics
                )
        self._record_stats(summary)

    def _fail(self, status: str, why: str, error: str, now: datetime) -> None:
        """Close the run without changes; a storage error here reaches spider_closed,
        and crawl() records the run once this process has let go of the archive."""
        assert self.run_id is not None
        end_run_without_changes(
            self.db, self.run_id, status=status, reason=why, error=error,
            finished_at=now, pages=len(self.pages),
        )  # fmt: skip
        save_fetches(self.db, self.run_id, self._fetches())
        summary = RunSummary(self.run_id, status, len(self.pages), 0, 0, 0, 0, 0, error)
        self._record_stats(summary)

    def _unfinished(self, reason: str) -> tuple[str, str, str] | None:
        """Why the run cannot be committed (status, reason, error), or None when it can.

        A later page that cannot be read does not stop the run: what was read is
        committed as a partial run (see :meth:`_report`).
        """
        if reason != "finished":
            return "aborted", reason, f"crawl stopped before finishing ({reason})"
        first_page = [failure for failure in self.failures if failure.page == 1]
        if first_page:
            return "failed", first_page[0].reason, first_page[0].error
        if self.errors:
            return "failed", "crash", self.errors[0]
        if not self.pages:
            return "failed", "crash", "no listing page was processed"
        return None

    def _report(self) -> RunReport:
        by_page: dict[int, list[Sighting]] = {}
        for item in self.items:
            by_page.setdefault(item.page, []).append(
                Sighting(item.url, item.headline, item.summary, item.published_at,
                         item.position, item.page, truncated=item.truncated)
            )  # fmt: skip
        read = [page for page in sorted(self.pages, key=lambda page: page.page)]
        later = [failure for failure in self.failures if failure.page > 1]
        if later:  # pages after the first failing one are not the same listing any more
            read = [page for page in read if page.page < min(f.page for f in later)]
        pages = tuple(
            PageResult(page.url, page.page, page.status == 304, page.etag,
                       page.last_modified, tuple(by_page.get(page.page, ())))
            for page in read
        )  # fmt: skip
        return RunReport(
            pages,
            gap_suspected=self.paging_end.gap_suspected if self.paging_end else False,
            stopped_looking=self.paging_end.still_looking if self.paging_end else False,
            coverage=coverage(self.items),
            articles=tuple(self._articles()),
            article_failures={f.listing_url: f.error for f in self.article_failures},
            fetches=self._fetches(),
            extractor_version=EXTRACTOR_VERSION,
            partial=_partial(min(later, key=lambda failure: failure.page)) if later else "",
            fields_cleaned=sum(page.cleaned for page in read),
        )

    def _articles(self) -> list[Article]:
        """The article pages read, as the archive takes them (same-site canonicals only)."""
        return [
            Article(
                details.listing_url,
                details.canonical_url
                if details.canonical_url
                and looks_like_article(details.canonical_url, details.listing_url)
                else "",
                details.headline,
                details.published_at,
                details.tags,
            )
            for details in self.articles.values()
        ]

    def _fetches(self) -> tuple[Fetch, ...]:
        """Every page body this run received, for the archive's snapshots."""
        now = datetime.now(UTC)
        listing = [
            Fetch("listing", page.url, page.page, page.fetched_at or now, page.status,
                  page.content_type, page.etag, page.last_modified, page.body)
            for page in sorted(self.pages, key=lambda page: page.page)
        ]  # fmt: skip
        articles = [
            Fetch("article", details.url or details.listing_url, None, details.fetched_at or now,
                  details.status, details.content_type, None, None, details.body)
            for details in self.articles.values()
        ]  # fmt: skip
        return tuple(listing + articles)

    def _record_stats(self, summary: RunSummary) -> None:
        for name in (
            "status",
            "pages",
            "items_seen",
            "items_new",
            "items_edited",
            "items_vanished",
            "error",
        ):
            self.stats.set_value(f"archive/{name}", getattr(summary, name))


def _partial(failure: PageFailure) -> str:
    """Why a run read only part of the listing, in the words an operator looks for."""
    if failure.reason == "refused" and "robots.txt" in failure.error:
        return f"page {failure.page} refused by robots.txt"
    return f"page {failure.page} could not be read ({failure.reason}: {failure.error})"


def coverage(items: list[ListingItem]) -> dict[str, float]:
    """Share of parsed items that carry each field: a silent partial break shows here."""
    if not items:
        return {}
    return {
        name: round(sum(bool(getattr(item, name)) for item in items) / len(items), 3)
        for name in ("headline", "summary", "published_at")
    }
