"""Run one crawl in this process (one topic, or several side by side) and report the
archived outcome of each run.

One crawl per process: Twisted's reactor cannot restart, so the daemon runs each crawl
as a child ``topicwatch crawl`` process (see scheduler.py) and never imports Scrapy.
The outcome is read back from the run's row in the archive, not from Scrapy's exit
status: ``scrapy crawl`` "succeeds" even when the spider failed.
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import UsageError
from scrapy.settings import BaseSettings, Settings

from topicwatch.archive import ArchiveError, open_archive
from topicwatch.archive.crawl_memory import run_row
from topicwatch.archive.durations import duration_seconds
from topicwatch.archive.lock import lock_path, open_lock_file
from topicwatch.archive.runs import end_run_without_changes, run_line, topic_name_for
from topicwatch.crawler.logs import check_log_level, quiet_request_errors
from topicwatch.crawler.runs import RunOrder, TopicRun, run_opened, run_recorded, run_refused
from topicwatch.crawler.spiders.topic import TopicSpider, parse_selectors, topic_url
from topicwatch.origins import host_entries
from topicwatch.setting_values import whole_number

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 75  # EX_TEMPFAIL: another process is crawling the topic; try again later


@dataclass(frozen=True)
class CrawlRequest:
    """What to crawl and how; ``settings`` overrides Scrapy settings (tests, daemon)."""

    url: str
    db: str
    topic: str | None = None
    pages: int | None = None
    max_pages: int = 5
    trigger: str = "manual"
    lock_wait: float = 0.0
    selectors: dict[str, str] | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CrawlResult:
    """A finished crawl: its run row (None when it never started) and the exit code."""

    exit_code: int
    run: dict[str, Any] | None
    message: str
    duration: float


def crawl(request: CrawlRequest) -> CrawlResult:
    """Crawl one topic into the archive and return the archived outcome."""
    url = topic_url(request.url)
    parse_selectors(request.selectors)
    settings = crawl_settings(request.db, request.trigger, request.lock_wait, request.settings)
    os.close(open_lock_file(lock_path(request.db, url)))  # a planted lock file fails here
    quiet_request_errors(settings.get("LOG_LEVEL"))
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(TopicSpider)
    started = time.monotonic()
    process.crawl(
        crawler,
        url=url,
        topic=request.topic,
        pages=request.pages,
        max_pages=request.max_pages,
        selectors=request.selectors,
    )
    process.start()
    return _result(crawler.stats, request.db, time.monotonic() - started)


def crawl_settings(
    db: str, trigger: str, lock_wait: float, overrides: dict[str, Any], *, create: bool = True
) -> Settings:
    """The project's settings with a crawl's own on top, checked before Scrapy starts:
    a bad ``-s`` value or archive path is a usage error, not a traceback in the reactor.

    ``create=False`` (a daemon's worker): the archive must be there; a worker started after
    it was deleted must not make a new empty one in its place."""
    settings = Settings()
    settings.setmodule("topicwatch.crawler.settings", priority="project")
    check_overrides(settings, overrides)
    if "LOG_LEVEL" in overrides:
        check_log_level(overrides["LOG_LEVEL"])
    open_archive(db, create=create).close()  # bad paths fail here, before Scrapy starts
    settings.setdict(
        {
            "TOPICWATCH_DB": db,
            "TOPICWATCH_TRIGGER": trigger,
            "TOPICWATCH_LOCK_WAIT": lock_wait,
            "TOPICWATCH_DB_CREATE": create,
            **overrides,
        },
        priority="cmdline",
    )
    return settings


@dataclass(frozen=True)
class TopicCrawl:
    """One topic of a crawl of several, with its own limits (the daemon's config)."""

    url: str
    topic: str | None = None
    max_pages: int = 5
    selectors: dict[str, str] | None = None
    allow_hosts: tuple[str, ...] = ()
    timeout: float | None = None


@dataclass(frozen=True)
class TopicResult:
    """One topic's outcome in a crawl of several: ``status`` is the run's, or ``busy`` /
    ``archive_error`` when no run began; ``line`` is what ``topicwatch crawl`` prints."""

    topic: str
    status: str
    run: dict[str, Any] | None
    line: str


def crawl_topics(topics: list[TopicCrawl], request: CrawlRequest) -> tuple[int, list[TopicResult]]:
    """Crawl several topics in one Scrapy crawl, one run each (its own row, lock and
    commit), and return the exit code and each topic's outcome, in the order given.

    One process and one crawl for all of them: the imports and the engine's start are
    paid once, and a busy or failing topic does not stop the others. ``request`` gives
    what the runs share (archive, trigger, lock wait, ``--pages``, settings).
    """
    orders = [_order(topic, request.pages) for topic in topics]
    settings = crawl_settings(request.db, request.trigger, request.lock_wait, request.settings)
    quiet_request_errors(settings.get("LOG_LEVEL"))
    for order in orders:
        os.close(open_lock_file(lock_path(request.db, order.url)))
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(TopicSpider)
    opened: dict[str, int] = {}
    refused: dict[str, tuple[str, str]] = {}
    began: dict[int, float] = {}
    took: dict[int, float] = {}  # run id -> seconds from its start to its record

    def on_opened(run: TopicRun) -> None:
        opened[run.order.url] = run.id
        began[run.id] = time.monotonic()

    def on_recorded(run: TopicRun, run_id: int, status: str) -> None:
        took[run_id] = time.monotonic() - began.get(run_id, time.monotonic())

    def on_refused(order: RunOrder, kind: str, error: str) -> None:
        refused[order.url] = (kind, error)

    crawler.signals.connect(on_opened, signal=run_opened, weak=False)
    crawler.signals.connect(on_refused, signal=run_refused, weak=False)
    crawler.signals.connect(on_recorded, signal=run_recorded, weak=False)
    process.crawl(crawler, orders=orders)
    process.start()
    storage = crawler.stats.get_value("archive/storage_error")
    for run_id, moment in began.items():  # a run never recorded lasted the whole crawl
        took.setdefault(run_id, time.monotonic() - moment)
    results = [_topic_result(order, opened, refused, took, request.db, storage) for order in orders]
    return _batch_exit_code([result.status for result in results]), results


def _order(topic: TopicCrawl, pages: int | None) -> RunOrder:
    return RunOrder(
        url=topic_url(topic.url),
        topic=topic.topic or "",
        max_pages=topic.max_pages,
        exact_pages=pages,
        selectors=parse_selectors(topic.selectors),
        allow_hosts=topic.allow_hosts,
        timeout=topic.timeout,
    )


def _topic_result(
    order: RunOrder,
    opened: dict[str, int],
    refused: dict[str, tuple[str, str]],
    took: dict[int, float],
    db_path: str,
    storage: str | None,
) -> TopicResult:
    name = order.topic or topic_name_for(order.url)
    if order.url in refused:
        kind, error = refused[order.url]
        return TopicResult(name, kind, None, f"{name}: {kind}: {error}")
    if order.url not in opened:
        return TopicResult(name, "failed", None, f"{name}: failed: the run did not start")
    db = open_archive(db_path, readonly=True)
    try:
        run = run_row(db, opened[order.url])
    finally:
        db.close()
    if run["status"] == "running" and storage:
        run = _close_unrecorded(db_path, run, storage)
    duration = took.get(run["id"], 0.0)
    return TopicResult(run["topic"], run["status"], run, describe(run, duration))


def _batch_exit_code(statuses: list[str]) -> int:
    """0 when every run is ok; 1 when any failed (or could not start); else 75 when any
    topic was busy (try again later)."""
    if all(status == "ok" for status in statuses):
        return EXIT_OK
    if any(status != "busy" and status != "ok" for status in statuses):
        return EXIT_FAILED
    return EXIT_BUSY


# Settings that are seconds: DOWNLOAD_TIMEOUT, DOWNLOAD_DELAY, AUTOTHROTTLE_MAX_DELAY, ...
_TIME_SUFFIXES = ("_TIMEOUT", "_DELAY")
_TIME_SETTINGS = frozenset(
    {"RETRY_BACKOFF_BASE", "RETRY_BACKOFF_MAX", "RETRY_AFTER_MAX", "TOPICWATCH_LOCK_WAIT"}
)
# How each kind of default value is read back (bool first: a bool is an int too).
_SETTING_KINDS = (
    (bool, "getbool", "true or false"),
    (int | float, "getfloat", "a number"),
    (dict | BaseSettings, "getdict", "a JSON object"),
)


def check_overrides(settings: Settings, overrides: dict[str, Any]) -> None:
    """Refuse ``-s`` values of the wrong type now, as a usage error.

    Scrapy reads a setting only when a component starts, deep inside the reactor: a bad
    value there ends the crawl with a traceback and no run row instead of exit status 2.
    """
    hosts = overrides.get("TOPICWATCH_ALLOW_HOSTS")
    if hosts is not None:
        try:
            host_entries(Settings({"H": hosts}).getlist("H"))
        except ValueError as error:
            raise UsageError(f"-s TOPICWATCH_ALLOW_HOSTS: {error}") from None
    for name, value in overrides.items():
        default = settings.get(name)
        kind = next((k for k in _SETTING_KINDS if isinstance(default, k[0])), None)
        if not isinstance(value, str) or kind is None:
            continue
        try:
            read = getattr(Settings({name: value}), kind[1])(name)
        except ValueError:
            raise UsageError(f"-s {name}={value!r}: expected {kind[2]}") from None
        if kind[1] == "getfloat":
            _check_number(name, value, read)
            if isinstance(default, int) and not _is_time(name):
                _check_whole(name, value)


def _is_time(name: str) -> bool:
    return name.endswith(_TIME_SUFFIXES) or name in _TIME_SETTINGS


def _check_whole(name: str, text: str) -> None:
    """A count (an int by default) is read with ``getint``: ``1.5`` would crash the
    crawl inside Scrapy, and ``-1`` or a huge count would stall or unbound it."""
    try:
        whole_number(name, text)
    except ValueError as error:
        raise UsageError(f"-s {name}={text!r}: {error}") from None


def _check_number(name: str, text: str, number: float) -> None:
    """A number must be finite (``nan`` and ``inf`` parse as floats); a time must also be
    a duration the crawl can wait (:func:`crawler.config.duration_seconds`)."""
    if not math.isfinite(number):
        raise UsageError(f"-s {name}={text!r}: expected a finite number")
    if _is_time(name):
        try:
            duration_seconds(number)
        except ValueError as error:
            raise UsageError(f"-s {name}={text!r}: {error}") from None


def _result(stats: Any, db_path: str, duration: float) -> CrawlResult:
    busy = stats.get_value("archive/busy")
    if busy:
        return CrawlResult(EXIT_BUSY, None, f"busy: {busy}", duration)
    problem = stats.get_value("archive/archive_error")
    if problem:
        return CrawlResult(EXIT_USAGE, None, str(problem), duration)
    run_id = stats.get_value("archive/run_id")
    if run_id is None:
        return CrawlResult(EXIT_FAILED, None, "the crawl did not start", duration)
    db = open_archive(db_path, readonly=True)
    try:
        run = run_row(db, run_id)
    finally:
        db.close()
    problem = stats.get_value("archive/storage_error")
    if run["status"] == "running" and problem:
        run = _close_unrecorded(db_path, run, str(problem))
    code = EXIT_OK if run["status"] == "ok" else EXIT_FAILED
    return CrawlResult(code, run, describe(run, duration), duration)


def _close_unrecorded(db_path: str, run: dict[str, Any], problem: str) -> dict[str, Any]:
    """The run whose outcome the pipeline could not write (a full disk): ``failed`` with
    reason ``storage`` and the pipeline's one line, rather than ``running`` until the next
    crawl calls it a crash. A rolled-back commit leaves its log space behind, so this
    one-row update fits where the run did not."""
    closed = {**run, "status": "failed", "reason": "storage", "error": problem}
    try:
        db = open_archive(db_path, check_room=False)
    except ArchiveError:
        return closed
    try:
        end_run_without_changes(
            db, run["id"], status="failed", reason="storage", error=problem,
            finished_at=datetime.now(UTC), pages=run["pages"],
        )  # fmt: skip
        return run_row(db, run["id"])
    except sqlite3.Error:
        return closed
    finally:
        db.close()


def describe(run: dict[str, Any], duration: float) -> str:
    """The one line ``topicwatch crawl`` prints for a run (the daemon logs the same)."""
    return run_line(run["topic"], run["status"], run, duration)
