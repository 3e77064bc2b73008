"""The topicwatch daemon: re-crawl every configured topic on schedule, for months.

Run by ``topicwatch daemon`` (and its entry point ``scheduler.py``) in that process, after
the command line has loaded and checked the config. It never imports Scrapy: each crawl
runs as a child ``topicwatch crawl`` process (topicwatch.daemon.crawl_processes), so the
daemon stays small and a crashing or hanging crawl cannot take it down.

The rules live in job options and small modules, not here: APScheduler 3.x with a memory
job store, one job per topic (``max_instances=1``, ``coalesce=True``, no misfire grace, so
a late run is always run, once, and the due times it stands for are recorded ``missed``);
catch-up, coalescing and backoff arithmetic in crawler.schedule; streaks, alert outbox
and heartbeat in archive.daemon_state; bounded I/O in crawler.bounded, the alert courier
in crawler.courier, the jobs' watchdog in crawler.job_watch. The archive's ``crawl_runs``
row is the truth about every run.

It is longer than our usual module because start-up, the jobs and the graceful stop all
share one scheduler and one set of children; splitting them would only pass those around.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from types import FrameType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlite_utils
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from tzlocal import get_localzone

from topicwatch.archive import ArchiveError, open_archive
from topicwatch.archive.crawl_memory import run_row
from topicwatch.archive.daemon_state import (
    DaemonRunning,
    child_run,
    claim_heartbeat,
    daemon_lock,
    last_ok_started,
    latest_run_id,
    live_crawl_pids,
    mark_alert,
    pending_alerts,
    pid_alive,
    prune,
    record_event,
    record_outcome,
    record_stuck,
    register_topics,
    relabel_timeout,
    release_heartbeat,
    set_next_runs,
    set_waiting,
    worker_run,
)
from topicwatch.archive.daemon_state import beat as write_beat
from topicwatch.archive.daemon_workers import set_workers
from topicwatch.archive.db import file_identity
from topicwatch.archive.durations import format_duration
from topicwatch.archive.runs import (
    end_run_without_changes,
    record_unregistered_run,
    recover_stale_runs,
)
from topicwatch.archive.timestamps import parse_iso
from topicwatch.archive.watches import DeliveryBusy, delivery_lock, register_watches
from topicwatch.crawler import settings as project_settings
from topicwatch.daemon.bounded import Inflight
from topicwatch.daemon.config import Config, TopicConfig
from topicwatch.daemon.courier import Courier
from topicwatch.daemon.crawl_processes import KILL_GRACE, ChildExit, Children
from topicwatch.daemon.dispatch import FairExecutor
from topicwatch.daemon.hooks import (
    HookCancelled,
    HookError,
    HookNotConfigured,
    deliver,
    describe_hook,
)
from topicwatch.daemon.job_watch import JobWatch
from topicwatch.daemon.log import run_record, setup_logging, span, time_until
from topicwatch.daemon.schedule import (
    coalesce,
    first_run_time,
    interval_seconds,
    make_trigger,
    next_after_outcome,
)
from topicwatch.daemon.scrapyd import Cluster, Dispatched, RunLocally
from topicwatch.daemon.watch_delivery import deliver_due
from topicwatch.daemon.workers import OrderResult, Pool
from topicwatch.origins import site_of

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_BUSY = 75  # another daemon runs on this archive
CRAWL_BUSY = 75  # `topicwatch crawl`: another process is crawling the topic
HOUSEKEEPING = "housekeeping"
ENRICH_BUDGET = 60.0  # seconds; crawler.settings' default, which the daemon cannot import
KEEP_EVENTS = timedelta(days=90)
# Seconds at shutdown, once crawls have ended, for jobs to record their outcomes and the
# courier to send the alerts they queued (skipped by a second SIGTERM).
STOP_TAIL = 5.0
STOP_BUSY_MS = 1000  # how long the last records of a stop wait for another writer
# A check waiting this long past its due time for a crawl slot (or its topic's interval, if
# shorter) means the daemon cannot keep up: every run should start within a minute.
OVER_CAPACITY_LATE = 60.0

log = logging.getLogger("topicwatch.daemon")
T = TypeVar("T")


def utcnow() -> datetime:
    """The daemon's one clock: archive functions are always handed times."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """A scheduled run as judged from the archive: ok, failed, aborted or busy."""

    status: str
    run: dict[str, Any] | None
    error: str | None
    duration: float


class Daemon:
    """One scheduler over one archive; :meth:`run` returns the process exit code."""

    def __init__(self, config: Config, stop: threading.Event, hurry: threading.Event) -> None:
        self.config = config
        self.stop_requested = stop  # first SIGTERM/SIGINT
        self.hurry = hurry  # a second one: stop crawls without waiting out the grace
        self.stopping = threading.Event()
        self.scheduling = threading.Lock()  # see _while_scheduling
        self.children = Children()
        # With crawl_workers, crawls are orders to warm workers instead of children.
        self.pool = (
            Pool(self._worker_command(), config.crawl_workers, utcnow)
            if config.crawl_workers
            else None
        )
        # Topics with executor = "scrapyd" run on the [scrapyd] nodes (daemon.scrapyd).
        self.cluster = (
            Cluster(
                config.scrapyd,
                config.db,
                dict(config.settings),
                self.stopping,
                utcnow,
                self._reattached,
                lambda site: self.crawls.holding(site),  # self.crawls: made below
                lambda url: next((t for t in config.topics if t.url == url), None),
            )
            if config.scrapyd
            else None
        )
        self.jobs = JobWatch()  # what each job is doing; the heartbeat reports overruns
        self.courier = Courier(self._send_alerts)  # the one thread that waits on hooks
        self.watch_courier = Courier(self._send_watches, name="watch courier")
        self.hostname = socket.gethostname()
        self.timezone: tzinfo = ZoneInfo(config.timezone) if config.timezone else get_localzone()
        self.topic_ids: dict[str, int] = {}
        self.intervals = {
            t.name: interval_seconds(t, self.timezone, utcnow()) for t in config.topics
        }
        # Crawl slots: the check due longest first, within each site's limits.
        self.crawls = FairExecutor(
            config.concurrency,
            lambda job: site_of(job.args[0].url),
            per_site=config.per_site,
            site_gap=site_gap(config.settings),
        )
        self.over_capacity = False  # logged once when it begins, once when it ends
        self.scheduler = BackgroundScheduler(
            executors={
                "default": self.crawls,
                # Heartbeats never wait for a free crawl slot (alerts have their courier).
                HOUSEKEEPING: ThreadPoolExecutor(1),
            },
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.timezone,
        )
        self.expected: dict[str, datetime] = {}  # each topic's next due time, as last set
        # Outcomes of runs that went out in another topic's Scrapyd job (a batch), by topic
        # URL, for their own jobs to conclude: they run in the same slot right after it.
        self.batched: dict[str, Outcome] = {}
        self.scheduler.add_listener(
            self._on_submitted, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES
        )
        self.scheduler.add_listener(self._on_job_error, EVENT_JOB_ERROR)
        # The archive file the daemon started on (device, inode), once started; see archive().
        self.archive_file: tuple[int, int] | None = None
        self.exit_code = EXIT_OK
        self.replaced_once = threading.Lock()

    @contextmanager
    def archive(self) -> Iterator[sqlite_utils.Database]:
        """A connection for this thread: sqlite3 connections stay in their own thread.

        On the file the daemon started on only: one deleted or replaced under it stops the
        daemon (exit status 2), instead of a new empty archive where topics, their states
        and runs in flight are unknown and every outcome is recorded as a false crash.
        """
        if self._archive_replaced():
            raise ArchiveError(f"{self.config.db} was deleted or replaced while the daemon ran")
        # Once started, the daemon's archive must be there: never a new empty one.
        db = open_archive(self.config.db, create=self.archive_file is None)
        try:
            yield db
        finally:
            db.close()

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> int:
        try:
            with daemon_lock(self.config.db):
                if self.stop_requested.is_set():  # stopped while starting up: start nothing
                    log.info("stopped before starting")
                    return EXIT_OK
                self._start()
                while not self.stop_requested.wait(1.0):
                    pass
                self._stop()
        except DaemonRunning as error:
            log.error("%s", error)
            return EXIT_BUSY
        except ArchiveError as error:
            log.error("archive: %s", error)
            return EXIT_USAGE
        return self.exit_code

    def _archive_replaced(self) -> bool:
        """Whether the archive file is not the one the daemon started on; if so, stop (once,
        saying why)."""
        if self.archive_file is None or file_identity(self.config.db) == self.archive_file:
            return False
        with self.replaced_once:
            if self.exit_code != EXIT_OK:
                return True
            self.exit_code = EXIT_USAGE
        log.error(
            "archive: %s was deleted or replaced while the daemon ran: stopping (start the"
            " daemon again to use the file now there)",
            self.config.db,
        )
        self.stop_requested.set()
        return True

    def _start(self) -> None:
        now = utcnow()
        topics = self.config.topics
        with self.archive() as db:
            live = live_crawl_pids(db, self.config.db)
            recovered = recover_stale_runs(db, now, is_alive=live.__contains__)
            self.topic_ids = register_topics(db, [(t.name, t.url, t.schedule) for t in topics], now)
            claim_heartbeat(
                db,
                pid=os.getpid(),
                hostname=self.hostname,
                config_path=str(self.config.path) if self.config.path else None,
                beat_seconds=self.config.heartbeat,
                now=now,
            )
            prune(db, now - KEEP_EVENTS)
            record_event(db, now, "started", None, f"pid {os.getpid()}, {len(topics)} topics")
            last_ok = {t.name: last_ok_started(db, self.topic_ids[t.url]) for t in topics}
            new_watches = register_watches(db, [w.rule for w in self.config.watches], now)
        self.archive_file = file_identity(self.config.db)
        for name in new_watches:
            log.info("watch %s registered: it covers changes from now on", name)
        if recovered:
            log.warning("marked %d leftover running run(s) aborted: %s", len(recovered), recovered)
        for topic in topics:
            first = first_run_time(topic, self.timezone, last_ok[topic.name], now)
            self.scheduler.add_job(
                self._crawl_job,
                trigger=make_trigger(topic, self.timezone),
                args=[topic],
                id=topic.name,
                name=topic.name,
                next_run_time=first,
                misfire_grace_time=None,  # late runs are run, coalesced: see _on_submitted
            )
            self.expected[topic.name] = first
            log.info(
                "%s: %s, first run %s",
                topic.name,
                topic.schedule,
                time_until(first, now, self.timezone),
            )
        if self.pool is not None:
            self.pool.start()
            self._publish_workers(self.pool)
        if self.cluster is not None:
            self.cluster.start()  # reattaches to the jobs a previous daemon left running
        self.courier.start()
        self.courier.wake()  # alerts a previous daemon left pending
        self.watch_courier.start()
        self.watch_courier.wake()  # changes committed while no daemon ran
        self.scheduler.add_job(
            self._housekeeping,
            "interval",
            seconds=self.config.heartbeat,
            id=HOUSEKEEPING,
            executor=HOUSEKEEPING,
            misfire_grace_time=None,
        )
        self.scheduler.start()
        self._publish_next_runs()
        log.info("daemon started: pid %d, archive %s", os.getpid(), self.config.db)

    def _stop(self) -> None:
        """Stop scheduling, let running crawls finish within the grace, else stop them.

        Everything else is cut short so that the daemon is gone within the grace plus a
        few seconds whatever it was doing: an alert delivery in flight is abandoned (it
        stays pending).
        """
        with self.scheduling:
            self.stopping.set()
        self.children.close()
        if self.cluster is not None:
            self.cluster.close()  # dispatched jobs run on; the next daemon reattaches
        self.scheduler.pause()
        grace = self.config.shutdown_grace
        if self.pool is not None:
            if len(self.pool):
                log.info("stopping: waiting up to %gs for %d crawl(s)", grace, len(self.pool))
            self.pool.stop(grace, self.hurry)  # EOF, then SIGTERM, then SIGKILL
        if len(self.children):
            log.info("stopping: waiting up to %gs for %d crawl(s)", grace, len(self.children))
        if not self.children.wait_idle(grace, self.hurry):
            pids = self.children.signal_all(signal.SIGTERM)
            log.warning("stopping crawl(s) %s: SIGTERM", pids)
            if not self.children.wait_idle(KILL_GRACE):
                log.error(
                    "crawl(s) %s ignored SIGTERM: SIGKILL", self.children.signal_all(signal.SIGKILL)
                )
        tail = time.monotonic() + (0 if self.hurry.is_set() else STOP_TAIL)
        if not self.jobs.wait_idle(STOP_TAIL):  # they record their runs' outcomes
            log.error("job(s) of %s still busy: stopping without them", self.jobs.names())
        self.scheduler.shutdown(wait=False)
        if not self.courier.stop(within=tail - time.monotonic()):  # alerts the runs queued
            log.error("the alert courier did not stop: stopping without it")
        if not self.watch_courier.stop(within=tail - time.monotonic()):
            log.error("the watch courier did not stop: stopping without it")
        now = utcnow()
        try:
            with self.archive() as db:
                # Another writer holding the archive must not hold the stop: the busy
                # timeout (30 s) per write would make SIGTERM take a minute.
                db.execute(f"PRAGMA busy_timeout = {STOP_BUSY_MS}")
                record_event(db, now, "stopped", None, f"pid {os.getpid()}")
                if self.pool is not None:
                    set_workers(db, [], now)
                release_heartbeat(db, os.getpid(), now)
        except (ArchiveError, sqlite3.Error) as error:
            log.error(
                "could not record the stop (%s); status reads the daemon as gone once its"
                " heartbeat is stale",
                error,
            )
        log.info("daemon stopped")

    # ------------------------------------------------------------------ jobs

    def _crawl_job(self, topic: TopicConfig) -> None:
        """One scheduled run: an order to a warm worker (or a crawl child) within the
        topic's timeout, so no job holds a concurrency slot (or the topic's lock) past it."""
        batched = self.batched.pop(topic.url, None)
        if batched is not None:  # its run went out in another topic's job and is on record
            try:
                self._conclude(topic, batched)
            finally:
                self.jobs.end(topic.name)
            return
        if self.stopping.is_set():
            self.jobs.end(topic.name)  # taken along by a batch that never went out
            return
        started = utcnow()
        self.jobs.begin(topic, started)
        try:
            outcome = self._attempt(topic, started, time.monotonic() + topic.timeout)
            if outcome is not None:
                self.jobs.phase(topic.name, "recording the outcome")
                self._conclude(topic, outcome)
        finally:
            self.jobs.end(topic.name)

    def _attempt(self, topic: TopicConfig, started: datetime, deadline: float) -> Outcome | None:
        """The run's outcome, or None when shutdown began before a crawl could start.

        Every check is a crawl: an unchanged page is cheap through Scrapy itself (the
        spider's conditional GET answered 304) in a warm worker, so the daemon has no HTTP
        client of its own for pages (one User-Agent, robots.txt, redirect and timeout rule).
        """
        if self.cluster is not None and topic.executor == "scrapyd":
            try:
                sent = self._dispatch(self.cluster, topic, started, deadline)
            except RunLocally as why:
                log.warning("%s: %s: crawling it here", topic.name, why)
            else:
                duration = (utcnow() - started).total_seconds()
                return (
                    None if sent is None else Outcome(sent.status, sent.run, sent.error, duration)
                )
        if self.pool is not None:
            return self._order(self.pool, topic, started, deadline)
        with self.archive() as db:
            after_run = latest_run_id(db)
        child = self.children.run(
            self._command(topic),
            topic.timeout,
            on_start=lambda pid: self.jobs.phase(topic.name, f"crawl pid {pid}"),
            deadline=deadline,
        )
        return None if child is None else self._judge(topic, child, started, after_run)

    def _dispatch(
        self, cluster: Cluster, topic: TopicConfig, started: datetime, deadline: float
    ) -> Dispatched | None:
        """The topic's run on a Scrapyd node, with the other due checks of its site that
        wait for its slot (up to ``[scrapyd] batch`` in all, as many as fit in
        ``max_memory`` together) in the same job: one start-up on the node, one crawl of
        the site in its per_site count. Each is its own run, committed on its own; their
        outcomes wait in ``batched`` for their own jobs, which run in this slot next
        (daemon.dispatch.take_along), as do the checks of those left out."""
        phase = functools.partial(self.jobs.phase, topic.name)
        along = [
            job.args[0]
            for job in self.crawls.take_along(
                site_of(topic.url),
                lambda job: job.args[0].executor == "scrapyd" and job.args[0].url != topic.url,
                cluster.config.batch - 1,
            )
        ]
        for rider in along:
            self.jobs.begin(rider, started)
            self.jobs.phase(rider.name, f"in a Scrapyd job with {topic.name}")
        while True:
            if along:
                names = ", ".join(rider.name for rider in along)
                log.info("%s: one Scrapyd job with %s (one site)", topic.name, names)
            try:
                results = cluster.crawl_batch([topic, *along], started, deadline, phase)
                break
            except RunLocally as why:
                if not along:
                    raise  # too large alone: the caller crawls it here
                # Too large together: the last one runs its own check next, in this slot.
                log.info("%s: %s: %s leaves the batch", topic.name, why, along.pop().name)
        if results is None:
            return None
        duration = (utcnow() - started).total_seconds()
        for rider, sent in zip(along, results[1:], strict=True):
            self.batched[rider.url] = Outcome(sent.status, sent.run, sent.error, duration)
        return results[0]

    def _conclude(self, topic: TopicConfig, outcome: Outcome) -> None:
        """Count the outcome in the topic's streak, reschedule, log, and wake the courier."""
        failures = None
        transition = None
        if outcome.status in ("ok", "failed"):
            with self.archive() as db:
                failures, transition = record_outcome(
                    db,
                    self.topic_ids[topic.url],
                    ok=outcome.status == "ok",
                    now=utcnow(),
                    alert_after=self.config.alerts.after,
                    hooks=self.config.alerts.hooks,
                    error=outcome.error,
                    run_id=outcome.run["id"] if outcome.run else None,
                )
        next_run = self._reschedule(topic, failures)
        self._log_run(topic, outcome, failures, next_run)
        if outcome.status == "ok":
            self.watch_courier.wake()  # its changes, for the watches
        if transition is not None:
            # A topic failing is an operator's problem; its recovery is good news.
            level = logging.ERROR if transition == "failing" else logging.INFO
            log.log(
                level,
                "%s: alert %s",
                topic.name,
                transition,
                extra=_fields(topic=topic.name, alert=transition),
            )
            self.courier.wake()

    def _reattached(self, url: str, sent: Dispatched) -> None:
        """A run a previous daemon dispatched, committed now: counted as any run is."""
        topic = next((t for t in self.config.topics if t.url == url), None)
        if topic is not None and sent.run is not None and not self.stopping.is_set():
            took = (utcnow() - parse_iso(sent.run["started_at"])).total_seconds()
            self._conclude(topic, Outcome(sent.status, sent.run, sent.error, took))

    def _out_of_time(self, topic: TopicConfig, started: datetime) -> Outcome:
        """The job reached its crawl with none of the topic's timeout left: a failed run on
        record, as a crawl killed by its timeout is, and no crawl after it."""
        now = utcnow()
        error = f"no time left of the {format_duration(topic.timeout)} timeout to crawl"
        with self.archive() as db:
            run_id = record_unregistered_run(
                db, topic=topic.name, url=topic.url, trigger="schedule", started_at=started,
                pid=os.getpid(), status="failed", reason="timeout", error=error, finished_at=now,
            )  # fmt: skip
            record_event(db, now, "timeout", topic.name, error)
            run = run_row(db, run_id)
        return Outcome("failed", run, error, (now - started).total_seconds())

    def _order(
        self, pool: Pool, topic: TopicConfig, started: datetime, deadline: float
    ) -> Outcome | None:
        """The run as an order to a warm worker, within what is left of its timeout."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return self._out_of_time(topic, started)
        order: dict[str, Any] = {
            "url": topic.url, "topic": topic.name, "max_pages": topic.max_pages,
            "timeout": round(remaining, 3), "trigger": "schedule",
        }  # fmt: skip
        if topic.selectors:
            order["selectors"] = topic.selectors
        if topic.allow_hosts:
            order["allow_hosts"] = list(topic.allow_hosts)
        with self.archive() as db:
            after_run = latest_run_id(db)
        result = pool.run(
            order,
            remaining,
            on_start=lambda pid: self.jobs.phase(topic.name, f"crawl worker pid {pid}"),
        )
        return None if result is None else self._judge_order(topic, result, started, after_run)

    def _judge_order(
        self, topic: TopicConfig, result: OrderResult, started: datetime, after_run: int
    ) -> Outcome:
        """The order's run as on record; a run its worker never answered for (the worker
        died or was killed) is closed here, or recorded if it never registered."""
        line = result.line or {}
        if result.pid is None:
            return Outcome("failed", None, result.error, result.duration)
        if line.get("status") == "busy":
            return Outcome("busy", None, str(line.get("error") or ""), result.duration)
        now = utcnow()
        with self.archive() as db:
            if line.get("run_id") is not None:
                run = self._reported_run(db, topic, line, result.pid, now)
                return Outcome(run["status"], run, run["error"], result.duration)
            if line:  # answered without a run: the archive refused it, or a bad order
                status, reason = "failed", "crash"
                error = f"{line.get('status')}: {line.get('error') or line.get('reason')}"
            elif result.timed_out:
                status, reason, error = "failed", "timeout", result.error
                record_event(db, now, "timeout", topic.name, error)
            elif self.stopping.is_set() and not result.crashed:
                # Its worker was stopped with the daemon; one that crashed by itself
                # meanwhile failed the run, shutdown or not.
                status, reason, error = "aborted", "shutdown", result.error
            else:
                status, reason, error = "failed", "crash", result.error
            found = worker_run(db, result.pid, self.topic_ids[topic.url], after_run)
            if found is not None:
                end_run_without_changes(
                    db, found["id"], status=status, reason=reason, error=error, finished_at=now
                )  # a no-op unless it is still running
                run_id = found["id"]
            else:
                run_id = record_unregistered_run(
                    db, topic=topic.name, url=topic.url, trigger="schedule", started_at=started,
                    pid=result.pid, status=status, reason=reason, error=error, finished_at=now,
                )  # fmt: skip
            run = run_row(db, run_id)
        return Outcome(run["status"], run, run["error"], result.duration)

    def _reported_run(
        self,
        db: sqlite_utils.Database,
        topic: TopicConfig,
        line: dict[str, Any],
        pid: int,
        now: datetime,
    ) -> dict[str, Any]:
        """The run a worker reported finished, as on record. A worker reports a run once it
        is recorded; one still ``running`` (seen: a run timing out beside another on the
        same worker) is closed here, so no row is left ``running`` under a live pid."""
        run_id = int(line["run_id"])
        try:
            run = run_row(db, run_id)
        except KeyError:
            return run_row(db, record_unregistered_run(
                db, topic=topic.name, url=topic.url, trigger="schedule", started_at=now,
                pid=pid, status="failed", reason="crash", finished_at=now,
                error=f"the crawl worker reported run {run_id}, which is not in the archive",
            ))  # fmt: skip
        if run["status"] == "running":
            error = (
                f"the crawl worker reported {line.get('status')} ({line.get('reason')}) but the"
                f" run was still running in the archive: {line.get('error') or ''}"
            )
            log.error("%s: run %d: %s", topic.name, run_id, error)
            reason = "timeout" if line.get("reason") == "timeout" else "crash"
            end_run_without_changes(
                db, run_id, status="failed", reason=reason, error=error, finished_at=now
            )
            run = run_row(db, run_id)
        return run

    def _worker_command(self) -> list[str]:
        """The warm workers' command: the daemon's [settings], with the enrichment budget
        capped at a third of the shortest topic timeout (a setting, so one for all runs)."""
        command = [sys.executable, "-m", "topicwatch.crawler.worker", "--db", str(self.config.db)]
        command.append("--no-create")  # started after the archive was deleted: never a new one
        settings = dict(self.config.settings)
        budget = _number(settings.pop("TOPICWATCH_ENRICH_BUDGET", ENRICH_BUDGET), ENRICH_BUDGET)
        shortest = min((t.timeout for t in self.config.topics), default=600.0)
        settings["TOPICWATCH_ENRICH_BUDGET"] = f"{min(budget, shortest / 3):g}"
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        return command

    def _command(self, topic: TopicConfig) -> list[str]:
        command = [sys.executable, "-m", "topicwatch", "crawl", "--url", topic.url]
        command += ["--db", str(self.config.db), "--topic", topic.name, "--trigger", "schedule"]
        command += ["--json", "--max-pages", str(topic.max_pages), "--wait", "0"]
        if topic.selectors:
            command += ["--selectors", _json(topic.selectors)]
        settings = dict(self.config.settings)
        # Article pages must never keep a run past its timeout: enrichment gets a third.
        budget = _number(settings.pop("TOPICWATCH_ENRICH_BUDGET", ENRICH_BUDGET), ENRICH_BUDGET)
        settings["TOPICWATCH_ENRICH_BUDGET"] = f"{min(budget, topic.timeout / 3):g}"
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        if topic.allow_hosts:
            command += ["-s", f"TOPICWATCH_ALLOW_HOSTS={','.join(topic.allow_hosts)}"]
        return command

    def _judge(
        self, topic: TopicConfig, child: ChildExit, started: datetime, after_run: int
    ) -> Outcome:
        """Close whatever the child left ``running`` and read its run's row back (the
        child's is the run it registered after run ``after_run``)."""
        if child.pid is None:
            return Outcome("failed", None, child.last_error_line, child.duration)
        if child.returncode == CRAWL_BUSY:
            return Outcome("busy", None, child.last_error_line, child.duration)
        now = utcnow()
        if child.timed_out:
            status, reason = "failed", "timeout"
            error = f"killed after the {format_duration(topic.timeout)} timeout"
        else:
            status, reason = (
                ("aborted", "shutdown") if self.stopping.is_set() else ("failed", "crash")
            )
            error = f"the crawl process ended without recording its outcome ({_exit(child)})"
        with self.archive() as db:
            recover_stale_runs(
                db, now, is_alive=pid_alive, status=status, reason=reason, error=error,
                pids={child.pid},
            )  # fmt: skip
            if child.timed_out:
                relabel_timeout(db, child.pid, after_run, error, now)
                record_event(db, now, "timeout", topic.name, error)
            run = child_run(db, child.pid, after_run)
            if run is None:
                # Killed or dead before it registered its run (Scrapy's start-up takes a
                # second or more on a loaded machine): the daemon puts the attempt on record.
                if not child.timed_out:
                    error = child.last_error_line or f"the crawl did not start ({_exit(child)})"
                run_id = record_unregistered_run(
                    db, topic=topic.name, url=topic.url, trigger="schedule", started_at=started,
                    pid=child.pid, status=status, reason=reason, error=error, finished_at=now,
                )  # fmt: skip
                run = run_row(db, run_id)
        return Outcome(run["status"], run, run["error"], child.duration)

    def _while_scheduling(self, call: Callable[[], T]) -> T | None:
        """Call into the scheduler from a job thread, unless shutdown has begun (then None).

        APScheduler's shutdown holds its job-store lock while it waits for the job threads,
        so a job thread asking for a job at that moment would deadlock the daemon.
        """
        with self.scheduling:
            return None if self.stopping.is_set() else call()

    def _reschedule(self, topic: TopicConfig, failures: int | None) -> datetime | None:
        """Push the next run later while failures back off; publish it for status."""

        def move() -> datetime | None:
            job = self.scheduler.get_job(topic.name)
            if job is None:
                return None
            wanted = next_after_outcome(
                job.next_run_time,
                utcnow(),
                interval=self.intervals[topic.name],
                failures=failures or 0,
                cap=self.config.backoff_max,
            )
            if wanted is not None and wanted != job.next_run_time:
                job.modify(next_run_time=wanted)
                self.expected[topic.name] = wanted
            return wanted

        wanted = self._while_scheduling(move)
        if not self.stopping.is_set():
            with self.archive() as db:
                set_next_runs(db, {self.topic_ids[topic.url]: wanted}, utcnow())
        return wanted

    def _housekeeping(self) -> None:
        """The heartbeat: it only writes to the archive and wakes the courier, so nothing a
        topic or a hook does can hold it (a stale beat means the daemon itself is stuck)."""
        if self._archive_replaced():  # checked every beat, whether or not a topic runs
            return
        now = utcnow()
        with self.archive() as db:
            write_beat(db, os.getpid(), now)
        self._publish_next_runs()
        self._publish_waiting(now)
        if self.pool is not None:
            self._publish_workers(self.pool)
        self._watch_jobs(now)
        self.courier.wake()
        self.watch_courier.wake()  # digests that came due, retries after backoff

    def _publish_workers(self, pool: Pool) -> None:
        """The warm workers for ``topicwatch status``, as of this heartbeat."""
        with self.archive() as db:
            set_workers(db, pool.snapshot(), utcnow())

    def _publish_waiting(self, now: datetime) -> None:
        """Publish how late each waiting check is; log once when the daemon falls behind
        (a check still waiting when its next is due, or after a minute) and once when it
        has caught up."""
        waiting = {entry.job_id: entry.due for entry in self.crawls.waiting()}
        with self.archive() as db:
            set_waiting(
                db, {self.topic_ids[t.url]: waiting.get(t.name) for t in self.config.topics}, now
            )
        late = {name: (now - due).total_seconds() for name, due in waiting.items()}
        behind = [
            name
            for name, seconds in late.items()
            if seconds > min(self.intervals[name], OVER_CAPACITY_LATE)
        ]
        if behind and not self.over_capacity:
            self.over_capacity = True
            detail = (
                f"over capacity: {len(waiting)} check(s) waiting for a crawl slot, the oldest"
                f" due {span(max(late.values()))} ago; each runs in turn, longest due first"
                " (raise concurrency or crawl_workers, or lengthen schedules)"
            )
            log.warning("%s", detail, extra=_fields(waiting=len(waiting)))
            with self.archive() as db:
                record_event(db, now, "over_capacity", None, detail)
        elif not behind and self.over_capacity and not waiting:
            self.over_capacity = False
            log.info("within capacity again: no check is waiting for a crawl slot")
            with self.archive() as db:
                record_event(db, now, "within_capacity", None, "no check waiting")

    def _publish_next_runs(self) -> None:
        runs = self._while_scheduling(
            lambda: {
                self.topic_ids[t.url]: getattr(
                    self.scheduler.get_job(t.name), "next_run_time", None
                )
                for t in self.config.topics
            }
        )
        if runs is None:
            return
        with self.archive() as db:
            set_next_runs(db, runs, utcnow())

    def _watch_jobs(self, now: datetime) -> None:
        """Put jobs that overran their topic's timeout by a heartbeat on record, and alert.

        Jobs are bounded, so this should never fire; if it does, the operator must know
        (``topicwatch status`` shows it, refreshed at each beat, until the job ends).
        """
        for job in self.jobs.overdue(slack=self.config.heartbeat):
            topic = job.topic
            error = (
                f"running for {span(job.elapsed)}, over its {format_duration(topic.timeout)}"
                f" timeout ({job.phase})"
            )
            first, job.flagged = not job.flagged, True
            with self.archive() as db:
                queued = record_stuck(
                    db, self.topic_ids[topic.url], topic.name, error=error, now=now,
                    hooks=self.config.alerts.hooks, first=first,
                )  # fmt: skip
            if first:
                log.error("%s: stuck: %s", topic.name, error, extra=_fields(topic=topic.name))
            if queued:
                self.courier.wake()

    def _send_alerts(self, inflight: Inflight) -> None:
        """Send the outbox's pending alerts (on the courier's thread only, so never twice).

        A delivery cut short by shutdown is not an attempt: the alert stays as it was.
        """
        with self.archive() as db:
            alerts = pending_alerts(db)
        for alert in alerts:
            target = describe_hook(alert.hook, self.config.alerts)
            state, problem = "sent", None
            try:
                deliver(alert.hook, self.config.alerts, alert.payload, inflight)
            except HookCancelled:
                return
            except HookNotConfigured as error:
                state, problem = "skipped", str(error)
            except HookError as error:
                state, problem = "pending", str(error)
            with self.archive() as db:
                mark_alert(db, alert.id, state=state, now=utcnow(), error=problem)
            topic = alert.payload.get("topic")
            if problem:
                log.warning("%s: alert %s to %s not sent: %s", topic, alert.kind, target, problem)
            else:
                log.info("%s: alert %s sent to %s", topic, alert.kind, target)

    def _send_watches(self, inflight: Inflight) -> None:
        """Match and send the watches' due changes (on the watch courier's thread); a
        ``topicwatch watches send`` delivering right now has the round: it sends them."""
        if not self.config.watches:
            return
        try:
            with delivery_lock(self.config.db):
                sent = deliver_due(self.archive, self.config.watches, utcnow, inflight)
        except DeliveryBusy as busy:
            log.info("watches: %s; delivering at the next heartbeat", busy)
            return
        for result in sent:
            if result.error:
                log.warning("watch %s: not sent to %s: %s", result.watch, result.destination,
                            result.error)  # fmt: skip
            else:
                log.info("watch %s: %d change(s) sent to %s", result.watch, result.changes,
                         result.destination)  # fmt: skip

    # ------------------------------------------------------------------ events and logs

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        """Coalesce a late run and put the due times it stands for on record as ``missed``.

        After a suspend or a SIGSTOP, APScheduler runs a topic once for its latest due time
        and drops the others silently, and the next due time may follow a moment later;
        :func:`crawler.schedule.coalesce` decides what the run stands for. Runs on the
        scheduler's thread: the job is moved before its next due time can fire.
        """
        if event.job_id == HOUSEKEEPING:
            return
        topic = next(t for t in self.config.topics if t.name == event.job_id)
        due, now = event.scheduled_run_times[-1], utcnow()
        ran = event.code == EVENT_JOB_SUBMITTED

        def account() -> tuple[datetime, ...]:
            job = self.scheduler.get_job(topic.name)
            if job is None:
                return ()
            step = make_trigger(topic, self.timezone, jitter=False)
            plan = coalesce(
                self.expected.get(topic.name), due, now, job.next_run_time,
                lambda moment: step.get_next_fire_time(moment, moment), ran=ran,
            )  # fmt: skip
            following = job.next_run_time
            if plan.skip is not None:
                later = job.trigger.get_next_fire_time(plan.skip, plan.skip)
                if later is not None:
                    job.modify(next_run_time=later)
                    following = later
            self.expected[topic.name] = following
            return plan.missed

        missed = self._while_scheduling(account)
        if missed:
            self._record_missed(topic.name, missed, now, ran)

    def _record_missed(
        self, name: str, missed: tuple[datetime, ...], now: datetime, ran: bool
    ) -> None:
        first, last = missed[0].astimezone(UTC), missed[-1].astimezone(UTC)
        due = f"{first:%Y-%m-%d %H:%M:%S}" + (f" to {last:%H:%M:%S}" if len(missed) > 1 else "")
        why = (
            f"one run at {now:%H:%M:%S} stands for them (the daemon was held up: stopped,"
            " suspended or busy)"
            if ran
            else "skipped: the previous check was still waiting for a slot or running"
        )
        detail = f"{len(missed)} run(s) due {due} UTC did not start on time; {why}"
        log.warning("%s: %s", name, detail, extra=_fields(topic=name, missed=len(missed)))
        try:
            with self.archive() as db:
                record_event(db, now, "missed", name, detail)
        except (ArchiveError, sqlite3.OperationalError) as error:
            log.error("could not record missed event: %s", error)

    def _on_job_error(self, event: JobExecutionEvent) -> None:
        """Put a job that raised on record: APScheduler would only log it."""
        detail = f"{type(event.exception).__name__}: {event.exception}"
        quiet = isinstance(event.exception, ArchiveError)  # its message says it all
        log.error(
            "%s: job failed: %s", event.job_id, detail, exc_info=None if quiet else event.exception
        )
        try:
            with self.archive() as db:
                record_event(db, utcnow(), "error", event.job_id, detail)
        except (ArchiveError, sqlite3.OperationalError) as error:
            log.error("could not record error event: %s", error)

    def _log_run(
        self,
        topic: TopicConfig,
        outcome: Outcome,
        failures: int | None,
        next_run: datetime | None,
    ) -> None:
        level, line, fields = run_record(
            topic.name,
            outcome.status,
            outcome.run,
            outcome.duration,
            error=outcome.error,
            failures=failures,
            alert_after=self.config.alerts.after,
            next_run=next_run,
            now=utcnow(),
            timezone=self.timezone,
        )
        log.log(level, "%s", line, extra={"fields": fields})


def site_gap(settings: dict[str, str]) -> float:
    """Seconds between one crawl of a site ending and the next starting, on any slot or
    worker: the crawl's ``DOWNLOAD_DELAY`` ([settings], else the project's), which Scrapy
    itself keeps only between the requests of one process."""
    return max(_number(settings.get("DOWNLOAD_DELAY"), project_settings.DOWNLOAD_DELAY), 0.0)


def _exit(child: ChildExit) -> str:
    code = child.returncode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _fields(**fields: Any) -> dict[str, Any]:
    return {"fields": fields}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------------- entry point


def run(config: Config, *, log_json: bool = False) -> int:
    """Run the daemon until SIGTERM/SIGINT (a second one: stop crawls without the grace);
    return the process exit status."""
    stop, hurry = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        (hurry if stop.is_set() else stop).set()

    signal.signal(signal.SIGTERM, on_signal)  # BlockingScheduler/BackgroundScheduler: none
    signal.signal(signal.SIGINT, on_signal)
    setup_logging(log_json)
    daemon = Daemon(config, stop, hurry)
    code = daemon.run()
    if len(daemon.jobs):
        # A job thread still blocked (in SQLite, say) would hold the interpreter's exit,
        # which joins the scheduler's worker threads: stop means stop.
        logging.shutdown()
        os._exit(code)
    return code
