"""The archive's side of a crawl's lifecycle: opening topic runs, and closing what is left.

A Scrapy extension, as Scrapy's own components own lifecycles: when the spider asks for a
topic run (:data:`crawler.runs.run_wanted`), this takes the topic's lock (one writer per
topic across processes), records the run as ``running`` (so a crash leaves a trace), and
hands the spider the archive's memory of the topic. The pipeline commits each run when it
is complete; a run with a timeout that is not complete by then is recorded ``failed``
(reason ``timeout``) here, so one hanging site cannot hold a crawl of many topics; runs a
shutdown interrupts are closed here as ``aborted`` on ``spider_closed``, the only signal
that says why the crawl ended.

Switched off (``NotConfigured``) without ``TOPICWATCH_DB``: ``scrapy crawl topic -o
items.jsonl`` then exports the listing and writes no archive.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from topicwatch.archive import ArchiveError, TopicBusy, open_archive, topic_lock
from topicwatch.archive.aliases import canonical_urls
from topicwatch.archive.changes import reads_on
from topicwatch.archive.crawl_memory import previous_listing, topic_id_of, topic_memory
from topicwatch.archive.daemon_state import pid_alive
from topicwatch.archive.diagnose import explain
from topicwatch.archive.enrichment import needing_articles, pending_urls
from topicwatch.archive.runs import begin_run, recover_stale_runs, topic_name_for
from topicwatch.crawler.runs import (
    RunOrder,
    TopicRun,
    run_opened,
    run_refused,
    run_released,
    run_wanted,
)

logger = logging.getLogger(__name__)


class ArchiveMemory:
    """The archive's memory of one topic, as a run asks it (:class:`crawler.runs.CrawlMemory`)."""

    def __init__(self, db: sqlite_utils.Database, topic_url: str, enrich_max: int) -> None:
        memory = topic_memory(db, topic_url)
        self.db = db
        self.known_urls = memory.known_urls
        self.pages = memory.pages
        self.listed = previous_listing(db, topic_url)
        topic_id = topic_id_of(db, topic_url)
        self.pending_urls = pending_urls(db, topic_id, enrich_max) if topic_id else []

    def needing_articles(self, cards: list[tuple[str, str, str]]) -> list[str]:
        """Of the page's ``(url, headline, summary)`` cards, the URLs whose article page
        is worth reading (archive.enrichment)."""
        return needing_articles(self.db, cards)

    def wants_more(self, read: list[tuple[str, int]]) -> bool:
        """Whether paging should read on (archive.changes.reads_on), the URLs read known
        by the archive's aliases."""
        if not self.listed:
            return False
        canonical = canonical_urls(self.db, {url for url, _ in read})  # one query, not one each
        return reads_on(read, self.listed, canonical)


class ArchiveRuns:
    """Open topic runs for the spider; close the ones a shutdown leaves unfinished."""

    def __init__(self, crawler: Crawler, db_path: str) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.db_path = db_path
        self.create_db = settings.getbool("TOPICWATCH_DB_CREATE", True)
        self.trigger = settings.get("TOPICWATCH_TRIGGER", "manual")
        self.lock_wait = settings.getfloat("TOPICWATCH_LOCK_WAIT", 0.0)
        self.enrich_max = settings.getint("TOPICWATCH_ENRICH_MAX", 20)
        self.runs: dict[int, TopicRun] = {}
        self.databases: dict[int, sqlite_utils.Database] = {}
        self._resources: dict[int, ExitStack] = {}
        self._archive: sqlite_utils.Database | None = None
        self._deadlines: dict[int, Any] = {}  # run id -> its pending IDelayedCall
        crawler.signals.connect(self.open_run, signal=run_wanted)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.request_dropped, signal=signals.request_dropped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveRuns:
        db_path = crawler.settings.get("TOPICWATCH_DB")
        if crawler.settings.get("TOPICWATCH_OUTPUT") == "feed":
            raise NotConfigured  # silently: a message is a WARNING in every crawl
        if not db_path:
            raise NotConfigured("no TOPICWATCH_DB: the crawl writes no archive")
        return cls(crawler, db_path)

    def open_run(self, order: RunOrder) -> TopicRun | None:
        """Lock the topic, record its run as ``running``, and hand back the run (None, and
        the reason in the crawl's stats, when the topic is busy or the archive unusable)."""
        resources = ExitStack()
        try:
            resources.enter_context(topic_lock(self.db_path, order.url, wait=self.lock_wait))
            db = self.archive()
            now = datetime.now(UTC)
            recover_stale_runs(db, now, is_alive=pid_alive)
            run_id = begin_run(
                db,
                topic=order.topic or topic_name_for(order.url),
                url=order.url,
                trigger=order.trigger or self.trigger,
                started_at=now,
                pid=os.getpid(),
            )
        except (TopicBusy, ArchiveError, sqlite3.Error) as error:
            # The lock goes too: kept by a warm worker whose run never began, it made the
            # topic "busy" (held by the worker itself) for every order until it recycled.
            resources.close()
            if isinstance(error, sqlite3.Error):  # e.g. another writer held it past 30 s
                error = explain(Path(self.db_path), error)
            kind = "busy" if isinstance(error, TopicBusy) else "archive_error"
            self.crawler.stats.set_value(f"archive/{kind}", str(error))
            # topicwatch crawl reports it in one line; log it for `scrapy crawl` users.
            logger.log(logging.INFO if kind == "busy" else logging.ERROR, "%s", error)
            self.crawler.signals.send_catch_log(
                run_refused, order=order, kind=kind, error=str(error)
            )
            return None
        run = TopicRun(run_id, order, ArchiveMemory(db, order.url, self.enrich_max))
        self.runs[run_id] = run
        self.databases[run_id] = db
        self._resources[run_id] = resources
        self.crawler.stats.set_value("archive/run_id", run_id)
        if order.timeout is not None:
            self._deadlines[run_id] = _call_later(order.timeout, self.expire, run)
        self.crawler.signals.send_catch_log(run_opened, run=run)
        return run

    def archive(self) -> sqlite_utils.Database:
        """The crawl's one connection to the archive, shared by its runs in turn.

        Opening the archive checks it (identity, schema: three connections) and closing
        the last connection to a WAL file checkpoints it: ~4 ms a run, most of what a warm
        worker's check cost. Runs use it one callback at a time in the reactor's thread,
        and no transaction spans a callback, so sharing it is safe.
        """
        if self._archive is None:
            self._archive = open_archive(self.db_path, create=self.create_db)
        return self._archive

    def expire(self, run: TopicRun) -> None:
        """The run's time is up: on record as failed (``timeout``) with what it read so
        far as evidence; the spider ignores its late responses (the run is finished)."""
        self._deadlines.pop(run.id, None)
        self.end(run, "timeout")

    def request_dropped(self, request: Any, spider: Spider) -> None:
        """The scheduler refused one of a run's requests: it will never be answered, so
        the run could never complete. It is ended now (``aborted``, reason ``dropped``)."""
        run = self.runs.get(request.meta.get("run_id", 0))
        if run is not None:
            self.end(run, "dropped")

    def end(self, run: TopicRun, reason: str) -> None:
        """Record an open run that cannot complete, and let go of it."""
        from topicwatch.crawler.pipelines import ArchivePipeline

        if run.finished or run.id not in self.runs:
            return
        pipeline: Any = self.crawler.get_item_pipeline(ArchivePipeline)
        try:
            if pipeline is not None:
                pipeline.finish(run, reason)
        finally:
            run.finished = True
            self.release(run)

    def release(self, run: TopicRun) -> None:
        """The run is on record (committed or failed): let go of its lock and connection."""
        self.runs.pop(run.id, None)
        self.databases.pop(run.id, None)
        deadline = self._deadlines.pop(run.id, None)
        if deadline is not None and deadline.active():
            deadline.cancel()
        resources = self._resources.pop(run.id, None)
        if resources is not None:
            resources.close()
            self.crawler.signals.send_catch_log(run_released, run=run)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        """Runs still open when the crawl ends were cut short (a shutdown, a crash)."""
        from topicwatch.crawler.pipelines import ArchivePipeline  # the pipeline records runs

        pipeline: Any = self.crawler.get_item_pipeline(ArchivePipeline)
        try:
            for run in list(self.runs.values()):
                try:
                    if pipeline is not None and not run.finished:
                        pipeline.finish(run, reason)
                finally:
                    self.release(run)
        finally:
            if self._archive is not None:
                self._archive.close()
                self._archive = None


def _call_later(seconds: float, function: Any, *args: Any) -> Any:
    """``reactor.callLater``, importing the reactor only once a crawl runs: importing it at
    module level would install Twisted's default reactor before Scrapy chooses its own."""
    from twisted.internet import reactor as installed

    reactor: Any = installed
    return reactor.callLater(seconds, function, *args)
