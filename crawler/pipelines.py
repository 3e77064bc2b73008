"""The archive pipeline: store each topic run the crawl completes, in one transaction.

Items arrive tagged with their topic run (``run_id``, :mod:`crawler.runs`); the pipeline
keeps them with the run and, when the run's last item (:class:`RunComplete`) arrives,
commits the run through :func:`archive.store.commit_run`, or records why it cannot be
committed. Opening runs (the lock, the ``running`` row) and closing the ones a shutdown
leaves is the lifecycle extension's job (:mod:`crawler.extensions`).
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from topicwatch.archive.changes import Sighting
from topicwatch.archive.diagnose import explain
from topicwatch.archive.enrichment import Article
from topicwatch.archive.runs import end_run_without_changes
from topicwatch.archive.snapshots import Fetch, save_fetches
from topicwatch.archive.store import PageResult, RunReport, RunSummary, commit_run
from topicwatch.archive.urls import looks_like_article
from topicwatch.crawler import EXTRACTOR_VERSION
from topicwatch.crawler.extensions import ArchiveRuns
from topicwatch.crawler.items import ListingItem, PageFailure
from topicwatch.crawler.run_pipeline import RunPipeline
from topicwatch.crawler.runs import TopicRun, run_committing, run_recorded

logger = logging.getLogger(__name__)


class ArchivePipeline(RunPipeline):
    """Store each completed topic run in the archive (``TOPICWATCH_DB``)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.db_path = crawler.settings.get("TOPICWATCH_DB")
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        if crawler.settings.get("TOPICWATCH_OUTPUT") == "feed":
            raise NotConfigured  # silently: a message is a WARNING in every crawl
        if not crawler.settings.get("TOPICWATCH_DB"):
            raise NotConfigured("no TOPICWATCH_DB: the crawl writes no archive")
        if crawler.get_extension(ArchiveRuns) is None:
            # An EXTENSIONS setting that replaced the project's dropped the run lifecycle.
            raise ValueError("ArchivePipeline needs the ArchiveRuns extension in EXTENSIONS")
        return cls(crawler)

    @property
    def stats(self) -> Any:
        return self.crawler.stats

    @property
    def open_runs(self) -> ArchiveRuns:
        runs = self.crawler.get_extension(ArchiveRuns)
        assert runs is not None, "ArchiveRuns is enabled whenever this pipeline is"
        return runs

    def finish(self, run: TopicRun, reason: str) -> None:
        """Commit the run, or record why it cannot be committed (``reason``: why the crawl
        or the run ended, as Scrapy says it). A storage error while recording reaches the
        crawl's stats, and crawl() records the run once this process let go of it."""
        run.finished = True
        db = self.open_runs.databases[run.id]
        now = datetime.now(UTC)
        try:
            outcome = _unfinished(run, reason)
            if outcome is not None:
                self._fail(run, db, *outcome, now)
                return
            try:
                self.crawler.signals.send_catch_log(run_committing, run=run)
                summary = commit_run(db, run.id, _report(run), now)
            except sqlite3.Error as error:
                # The archive refused the write (another writer past the busy timeout, a
                # full disk): the run is failed on record, never `running` or half written.
                self._fail(
                    run, db, "failed", "storage", str(explain(Path(self.db_path), error)), now
                )
                return
        except sqlite3.Error as error:
            problem = explain(Path(self.db_path), error)
            self.stats.set_value("archive/storage_error", str(problem))
            logger.error("%s", problem)
            return
        self._recorded(run, summary)
        for note in summary.notes:
            logger.warning("%s", note)
        if summary.status != "ok":
            for page in run.pages:
                logger.error(
                    "page %s: %s; candidates: %s", page.page, page.method, page.diagnostics
                )
        self._record_stats(summary)

    def _fail(
        self, run: TopicRun, db: Any, status: str, why: str, error: str, now: datetime
    ) -> None:
        """Close the run without changes (its row, and its pages as evidence)."""
        end_run_without_changes(
            db, run.id, status=status, reason=why, error=error, finished_at=now,
            pages=len(run.pages),
        )  # fmt: skip
        save_fetches(db, run.id, _fetches(run))
        summary = RunSummary(run.id, status, len(run.pages), 0, 0, 0, 0, 0, error)
        self._record_stats(summary)
        self._recorded(run, summary)

    def _recorded(self, run: TopicRun, summary: RunSummary) -> None:
        self.crawler.signals.send_catch_log(
            run_recorded, run=run, run_id=run.id, status=summary.status
        )

    def _record_stats(self, summary: RunSummary) -> None:
        for name in ("status", "pages", "items_seen", "items_new", "items_edited",
                     "items_vanished", "error"):  # fmt: skip
            self.stats.set_value(f"archive/{name}", getattr(summary, name))


def _unfinished(run: TopicRun, reason: str) -> tuple[str, str, str] | None:
    """Why the run cannot be committed (status, reason, error), or None when it can.

    A later page that cannot be read does not stop the run: what was read is committed
    as a partial run (see :func:`_report`).
    """
    if reason == "timeout":
        limit = run.order.timeout or 0
        return "failed", "timeout", f"the run took longer than its timeout ({limit:g}s)"
    if reason != "finished":
        return "aborted", reason, f"crawl stopped before finishing ({reason})"
    first_page = [failure for failure in run.failures if failure.page == 1]
    if first_page:
        return "failed", first_page[0].reason, first_page[0].error
    if run.errors:
        return "failed", "crash", run.errors[0]
    if not run.pages:
        return "failed", "crash", "no listing page was processed"
    return None


def _report(run: TopicRun) -> RunReport:
    items = [item for page in run.pages for item in page.items]
    by_page: dict[int, list[Sighting]] = {}
    for item in items:
        by_page.setdefault(item.page, []).append(
            Sighting(item.url, item.headline, item.summary, item.published_at,
                     item.position, item.page, truncated=item.truncated)
        )  # fmt: skip
    read = [page for page in sorted(run.pages, key=lambda page: page.page)]
    later = [failure for failure in run.failures if failure.page > 1]
    if later:  # pages after the first failing one are not the same listing any more
        read = [page for page in read if page.page < min(f.page for f in later)]
    pages = tuple(
        PageResult(page.url, page.page, page.unchanged, page.etag, page.last_modified,
                   tuple(by_page.get(page.page, ())), page.body_sha256, page.extraction)
        for page in read
    )  # fmt: skip
    return RunReport(
        pages,
        gap_suspected=run.paging_end.gap_suspected if run.paging_end else False,
        stopped_looking=run.paging_end.still_looking if run.paging_end else False,
        coverage=coverage(items),
        articles=tuple(_articles(run)),
        article_failures={f.listing_url: f.error for f in run.article_failures},
        fetches=_fetches(run),
        extractor_version=EXTRACTOR_VERSION,
        partial=_partial(min(later, key=lambda failure: failure.page)) if later else "",
        fields_cleaned=sum(page.cleaned for page in read),
    )


def _articles(run: TopicRun) -> list[Article]:
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
        for details in run.articles.values()
    ]


def _fetches(run: TopicRun) -> tuple[Fetch, ...]:
    """Every page body this run received, for the archive's snapshots."""
    now = datetime.now(UTC)
    listing = [
        Fetch("listing", page.url, page.page, page.fetched_at or now, page.status,
              page.content_type, page.etag, page.last_modified, page.body)
        for page in sorted(run.pages, key=lambda page: page.page)
    ]  # fmt: skip
    articles = [
        Fetch("article", details.url or details.listing_url, None, details.fetched_at or now,
              details.status, details.content_type, None, None, details.body)
        for details in run.articles.values()
    ]  # fmt: skip
    return tuple(listing + articles)


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
