"""A crawl on a Scrapyd node: runs opened from shipped memory, emitted as a feed.

With ``TOPICWATCH_OUTPUT = "feed"`` (the default in a process Scrapyd started, which sets
``SCRAPY_PROJECT``) a crawl never opens SQLite: :class:`FeedRuns` opens each run of the
job's batch with the memory the daemon shipped in the order (archive.shipped_memory),
and :class:`FeedPipeline` emits each run, once complete, as ``fetch`` records and an
``end`` record (archive.run_feed) into the job's feed, which the daemon fetches and
commits through the same ``commit_run`` as a local crawl. A run a graceful shutdown cuts
short (a job cancelled with ``cancel.json``) ends with an ``aborted`` end record; one
that never reaches its ``end`` record (the process killed) is a failed run on the
daemon's side.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.extensions.feedexport import FeedExporter

from topicwatch import __version__
from topicwatch.archive.changes import ListedItem, reads_on
from topicwatch.archive.crawl_memory import PageMemory
from topicwatch.archive.run_feed import end_record, fetch_record
from topicwatch.archive.shipped_memory import key_hash
from topicwatch.crawler.extensions import _call_later
from topicwatch.crawler.items import FeedRecord
from topicwatch.crawler.pipelines import _fetches, _report, _unfinished
from topicwatch.crawler.run_pipeline import RunPipeline
from topicwatch.crawler.runs import RunOrder, TopicRun, run_opened, run_wanted


def feed_mode(settings: Any) -> bool:
    return bool(settings.get("TOPICWATCH_OUTPUT") == "feed")


class ShippedMemory:
    """The archive's memory of a topic as the daemon shipped it (crawler.runs.CrawlMemory)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.known_urls = frozenset(data.get("known", ()))
        # [etag, last_modified, count, body_sha256, extraction]: the last two tell an
        # identical body (read as a 304) on the node as in an archive crawl.
        self.pages = {url: PageMemory(*page) for url, page in data.get("pages", {}).items()}
        self.listed = [ListedItem(*entry) for entry in data.get("listed", ())]
        self.pending_urls: list[str] = list(data.get("pending", ()))
        self.items: dict[str, list[Any]] = data.get("items", {})
        self.aliases: dict[str, str] = data.get("aliases", {})

    def needing_articles(self, cards: list[tuple[str, str, str]]) -> list[str]:
        """Of the ``(url, headline, summary)`` cards, those new, pending, or with a field
        whose comparison key differs from the stored one (a field the card leaves empty
        keeps the stored text, as in archive.changes)."""
        return [url for url, headline, summary in cards if self._needs(url, headline, summary)]

    def _needs(self, url: str, headline: str, summary: str) -> bool:
        known = self.items.get(self.aliases.get(url, url))
        if known is None or known[2]:
            return True
        return any(
            text and key_hash(text) != stored
            for text, stored in ((headline, known[0]), (summary, known[1]))
        )

    def wants_more(self, read: list[tuple[str, int]]) -> bool:
        """As crawler.extensions.ArchiveMemory.wants_more, with the shipped aliases."""
        return reads_on(read, self.listed, self.aliases)


class FeedRuns:
    """Open the job's runs from their orders' shipped memory; no lock, no archive."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.runs: dict[int, TopicRun] = {}
        self._deadlines: dict[int, Any] = {}
        crawler.signals.connect(self.open_run, signal=run_wanted)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FeedRuns:
        if not feed_mode(crawler.settings):
            raise NotConfigured  # silently: a message is a WARNING in every crawl
        return cls(crawler)

    def open_run(self, order: RunOrder) -> TopicRun:
        run = TopicRun(order.run_id, order, ShippedMemory(order.memory or {}))
        self.runs[run.id] = run
        if order.timeout is not None:
            self._deadlines[run.id] = _call_later(order.timeout, self.expire, run)
        self.crawler.signals.send_catch_log(run_opened, run=run)
        return run

    def expire(self, run: TopicRun) -> None:
        """The run's time is up: its end record says so (failed, ``timeout``)."""
        self._deadlines.pop(run.id, None)
        pipeline: Any = self.crawler.get_item_pipeline(FeedPipeline)
        if pipeline is not None and not run.finished:
            pipeline.finish(run, "timeout")
        run.finished = True
        self.release(run)

    def release(self, run: TopicRun) -> None:
        self.runs.pop(run.id, None)
        deadline = self._deadlines.pop(run.id, None)
        if deadline is not None and deadline.active():
            deadline.cancel()


class FeedPipeline(RunPipeline):
    """Emit each completed run into the job's feed (Scrapyd's ``items_dir``)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FeedPipeline:
        if not feed_mode(crawler.settings):
            raise NotConfigured  # silently: a message is a WARNING in every crawl
        if not crawler.settings.getdict("FEEDS"):
            raise ValueError("TOPICWATCH_OUTPUT = feed needs a feed (Scrapyd's items_dir)")
        return cls(crawler)

    @property
    def open_runs(self) -> FeedRuns:
        runs = self.crawler.get_extension(FeedRuns)
        assert runs is not None, "FeedRuns is enabled whenever this pipeline is"
        return runs

    def close_spider(self) -> None:
        """Runs still open as the crawl closes were cut short: a job cancelled with
        ``cancel.json`` (SIGINT: Scrapy's graceful shutdown, the engine stopped first)
        ends each with its ``end`` record, ``aborted``/``shutdown``, as a local crawl
        stopped by a signal does, instead of no record (a killed crawl, failed). Here, not
        on ``spider_closed``: the feed exporter closes the feed on that signal, and this
        runs before it."""
        engine = self.crawler.engine
        reason = "finished" if engine is not None and engine.running else "shutdown"
        for run in list(self.open_runs.runs.values()):
            if not run.finished:
                self.finish(run, reason)
            self.open_runs.release(run)

    def finish(self, run: TopicRun, reason: str) -> None:
        """The run's bodies, then its end record, into the feed (the spider's ``_job``)."""
        run.finished = True
        job = str(getattr(self.crawler.spider, "_job", ""))
        outcome = _unfinished(run, reason) or ("ok", "", "")
        fetches = _fetches(run)
        for seq, fetch in enumerate(fetches):
            self._emit(fetch_record(job, run.id, seq, fetch))
        report = replace(_report(run), fetches=())
        self._emit(
            end_record(job, run.id, outcome=outcome, report=report,
                       fetch_order=range(len(fetches)), version=__version__)
        )  # fmt: skip
        self.crawler.stats.set_value(f"feed/run/{run.id}", outcome[0])
        self._flush()

    def _flush(self) -> None:
        """Write the run's records through to the feed file now: the daemon commits each
        run of a batch as soon as the feed shows its end record, not when the job ends,
        and a buffered end record would wait for the next run's bytes or the close."""
        exporter = self.crawler.get_extension(FeedExporter)
        for slot in getattr(exporter, "slots", ()):
            if slot.file is not None:
                slot.file.flush()

    def _emit(self, record: dict[str, Any]) -> None:
        # Straight to the feed exporter: a pipeline turns one item into one, and a run is
        # many records; the spider's own items are not exported (crawler.feeds).
        self.crawler.signals.send_catch_log(
            signals.item_scraped, item=FeedRecord(record), response=None,
            spider=self.crawler.spider,
        )  # fmt: skip
