"""A warm crawl worker: one long-lived Scrapy crawl that runs topic runs as orders arrive.

``python -m topicwatch.crawler.worker --db DB [-s NAME=VALUE ...]`` starts Scrapy's engine
once and keeps its spider open (``spider_idle`` raises ``DontCloseSpider``); each order read
on stdin becomes a topic run in that spider, so a scheduled check costs no process start
and no imports (the daemon keeps a few of these and never imports Scrapy itself). Each run
is still its own: its own lock, run row and commit, its own timeout, and a callback crash
fails only its run (:mod:`crawler.runs`).

The protocol is JSON lines. In, one order a line::

    {"order": 7, "url": "https://…/tag/nato/", "topic": "nato", "max_pages": 5,
     "timeout": 600, "trigger": "schedule"}

(also ``pages``, ``selectors``, ``allow_hosts``). Out, one line per order when its run is
on record — ``{"order": 7, "run_id": 12, "status": "ok", "reason": null, …counts,
"duration": 1.2, "line": "nato: ok run 12: …"}`` — or when no run began: status ``busy``
(another process holds the topic's lock), ``failed`` (reason ``archive_error``) or
``refused`` (a bad order, or the worker is recycling or ending). After
``TOPICWATCH_WORKER_MAX_RUNS`` runs or with its memory over ``TOPICWATCH_WORKER_MAX_RSS_MB``
the worker says ``{"event": "recycle"}``, refuses new orders and exits once its runs in
flight are on record; so it does, with ``"why": "archive replaced"``, when the ``--db``
path no longer names the file it opened (deleted or replaced: its runs would be lost with
the old file). End of input drains the same way (exit 0). SIGTERM stops at once:
runs in flight are recorded ``aborted`` (reason ``shutdown``) and reported. stdout carries
protocol lines only: the process's own fd 1 is pointed at stderr, where Scrapy logs.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import resource
import sqlite3
import sys
import threading
import time
from typing import IO, Any

from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.exceptions import DontCloseSpider, UsageError
from scrapy.utils.defer import deferred_from_coro

from topicwatch.archive import ArchiveError
from topicwatch.archive.crawl_memory import run_row
from topicwatch.archive.db import file_identity
from topicwatch.crawler.extensions import ArchiveRuns
from topicwatch.crawler.orders import OrderError, order_id_of, parse_order, read_lines
from topicwatch.crawler.run import EXIT_OK, EXIT_USAGE, crawl_settings, describe
from topicwatch.crawler.runs import (
    RunOrder,
    TopicRun,
    run_opened,
    run_recorded,
    run_refused,
    run_released,
)
from topicwatch.crawler.spiders.topic import TopicSpider

# Counts a finished run reports, as named in its crawl_runs row.
_COUNTS = ("pages", "items_seen", "items_new", "items_edited", "items_vanished")


def rss_mb() -> float:
    """This process's resident memory now (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class WarmWorker:
    """Take orders into the running spider; report each run; say when to recycle.

    Everything here runs in the reactor thread: orders read from stdin on another thread
    are handed over with ``reactor.callFromThread``.
    """

    def __init__(self, crawler: Crawler, out: IO[str], db_path: str) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.out = out
        self.db_path = db_path
        self.archive_file = file_identity(db_path)  # the file its connections are on
        self.default_timeout = settings.getfloat("TOPICWATCH_RUN_TIMEOUT", 600.0)
        self.max_runs = settings.getint("TOPICWATCH_WORKER_MAX_RUNS", 10_000)
        self.max_rss_mb = settings.getfloat("TOPICWATCH_WORKER_MAX_RSS_MB", 512.0)
        self.in_flight: dict[int, tuple[Any, float]] = {}  # run id -> (order id, start)
        self.recorded: dict[int, str] = {}  # run id -> status, until its lock is let go
        self.runs_done = 0
        self.refusing = ""  # why new orders are refused: "recycling", "no more input"
        self._opened: TopicRun | None = None
        self._refusal: tuple[str, str] | None = None
        self._closing = False
        connect = crawler.signals.connect
        connect(self.spider_opened, signal=signals.spider_opened)
        connect(self.spider_idle, signal=signals.spider_idle)
        connect(self.on_opened, signal=run_opened)
        connect(self.on_refused, signal=run_refused)
        connect(self.on_recorded, signal=run_recorded)
        connect(self.on_released, signal=run_released)

    # ---------------------------------------------------------------- orders in

    def spider_opened(self, spider: Any) -> None:
        from twisted.internet import reactor

        settle_for_orders(self.crawler.settings.get("LOG_LEVEL"))
        reader = threading.Thread(
            target=read_lines,
            args=(0, reactor.callFromThread, self.take, self.end_of_input),
            name="orders",
            daemon=True,
        )
        reader.start()

    def take(self, line: bytes) -> None:
        """Start one order's run in the spider, or answer at once why not."""
        if not line.strip():
            return
        try:
            order_id, order = parse_order(line, self.default_timeout)
        except OrderError as error:
            self.say({"order": order_id_of(line), "status": "refused", "error": str(error)})
            return
        if not self.refusing and file_identity(self.db_path) != self.archive_file:
            # Deleted or replaced under the worker: its runs would go to the old file and
            # be lost with it. A new worker opens what the path names now.
            self.refusing = "recycling"
            self.say({"event": "recycle", "runs": self.runs_done, "why": "archive replaced"})
            self._close_when_drained()
        if self.refusing:
            self.say({"order": order_id, "status": "refused", "error": self.refusing})
            return
        self._opened, self._refusal = None, None
        spider: Any = self.crawler.spider
        request = spider.start_run(order)
        if request is None or self._opened is None:
            kind, why = self._refusal or ("archive_error", "the run did not start")
            status = "busy" if kind == "busy" else "failed"
            self.say({"order": order_id, "status": status, "reason": kind, "error": why})
            return
        self.in_flight[self._opened.id] = (order_id, time.monotonic())
        engine: Any = self.crawler.engine
        engine.crawl(request)

    def end_of_input(self) -> None:
        """No more orders: finish the runs in flight, then end."""
        self.refusing = self.refusing or "no more input"
        self._close_when_drained()

    # ---------------------------------------------------------------- results out

    def on_opened(self, run: TopicRun) -> None:
        self._opened = run

    def on_refused(self, order: RunOrder, kind: str, error: str) -> None:
        self._refusal = (kind, error)

    def on_recorded(self, run: TopicRun, run_id: int, status: str) -> None:
        self.recorded[run_id] = status

    def on_released(self, run: TopicRun) -> None:
        """Report the run once its lock is let go: the daemon may then order the topic
        again, from any worker, without meeting its own lock."""
        if run.id not in self.in_flight:
            return
        order_id, started = self.in_flight.pop(run.id)
        duration = time.monotonic() - started
        status = self.recorded.pop(run.id, None)
        if status is None:  # the archive refused even the run's failure
            problem = self.crawler.stats.get_value("archive/storage_error") or "not recorded"
            self.say({"order": order_id, "run_id": run.id, "status": "failed",
                      "reason": "storage", "error": str(problem)})  # fmt: skip
        else:
            self.say(self._report(order_id, run.id, status, duration))
        self.runs_done += 1
        self._maybe_recycle()
        self._close_when_drained()

    def _report(self, order_id: Any, run_id: int, status: str, duration: float) -> dict[str, Any]:
        report: dict[str, Any] = {"order": order_id, "run_id": run_id, "status": status}
        try:
            runs = self.crawler.get_extension(ArchiveRuns)
            if runs is None:
                raise ArchiveError("the ArchiveRuns extension is not enabled")
            row = run_row(runs.archive(), run_id)  # the runs' own connection
        except (ArchiveError, sqlite3.Error, KeyError) as error:
            return {**report, "error": str(error)}
        report.update(reason=row["reason"], error=row["error"])
        report.update({name: row[name] for name in _COUNTS})
        return {**report, "duration": round(duration, 3), "line": describe(row, duration)}

    def say(self, message: dict[str, Any]) -> None:
        """One protocol line; a reader that went away ends the worker like end of input."""
        try:
            self.out.write(json.dumps(message, ensure_ascii=False) + "\n")
            self.out.flush()
        except OSError:
            self.end_of_input()

    # ---------------------------------------------------------------- lifetime

    def close(self) -> None:
        """The crawl is over: no more protocol lines."""
        with contextlib.suppress(OSError):  # the reader went away: nothing left to tell it
            self.out.close()

    def spider_idle(self, spider: Any) -> None:
        """Keep the spider open for the next order, unless the worker is ending."""
        if not (self.refusing and not self.in_flight):
            raise DontCloseSpider

    def _maybe_recycle(self) -> None:
        if self.refusing:
            return
        rss = rss_mb()
        if self.runs_done >= self.max_runs or rss > self.max_rss_mb:
            self.refusing = "recycling"
            self.say({"event": "recycle", "runs": self.runs_done, "rss_mb": round(rss, 1)})

    def _close_when_drained(self) -> None:
        if self.refusing and not self.in_flight and not self._closing:
            self._closing = True
            engine: Any = self.crawler.engine
            deferred_from_coro(engine.close_spider_async(reason="finished"))


def settle_for_orders(log_level: str | int) -> None:
    """What a long-lived worker does once its crawl is up, before its first order.

    * Records below ``log_level`` are not made at all: Scrapy leaves the root logger at
      NOTSET and lets its handler drop them, so every request and item built a debug
      record ("Crawled (200)", "Scraped from") only to throw it away.
    * What start-up made (imports, Scrapy's components) is moved out of the garbage
      collector's sight (``gc.freeze``): it lives as long as the worker, and each full
      collection walked all of it again for nothing.
    """
    logging.getLogger().setLevel(log_level.upper() if isinstance(log_level, str) else log_level)
    gc.collect()
    gc.freeze()


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m topicwatch.crawler.worker",
        description="A warm crawl worker: JSON-lines orders on stdin, results on stdout.",
    )
    parser.add_argument("--db", required=True, help="the archive file")
    parser.add_argument(
        "--no-create", action="store_true",
        help="the archive must exist: never make a new one (the daemon's workers)",
    )  # fmt: skip
    parser.add_argument(
        "-s", "--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
        help="override a Scrapy setting (repeatable)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the worker until its input ends, it recycles, or SIGTERM; the exit status is 0
    then, 2 for a usage error (bad setting or archive path)."""
    args = parse_args(argv)
    out = protocol_stream()
    overrides = dict(pair.partition("=")[::2] for pair in args.overrides)
    # Items of one response at a time per run suffice; a warm worker should stay small.
    overrides.setdefault("CONCURRENT_ITEMS", "16")
    overrides.setdefault("LOG_LEVEL", "WARNING")
    try:
        settings = crawl_settings(args.db, "schedule", 0.0, overrides, create=not args.no_create)
    except (UsageError, ArchiveError) as error:
        print(f"worker: {error}", file=sys.stderr)
        return EXIT_USAGE
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(TopicSpider)
    worker = WarmWorker(crawler, out, args.db)  # held here: signals keep weak references
    process.crawl(crawler, orders=[])
    process.start()
    worker.close()
    return EXIT_OK


def protocol_stream() -> IO[str]:
    """A private copy of stdout for protocol lines; fd 1 itself then goes to stderr, so
    nothing else (a library's print, a warning) can end up between two protocol lines."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


if __name__ == "__main__":
    sys.exit(main())
