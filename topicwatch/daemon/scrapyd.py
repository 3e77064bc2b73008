"""The Scrapyd executor: a topic's run dispatched to a node, its feed committed here.

For a topic with ``executor = "scrapyd"`` the daemon (in the topic's job thread) holds the
topic's lock, ships the archive's memory of the topic as the job's ``batch`` argument
(archive.shipped_memory; over ``max_memory`` the topic is crawled locally instead), waits
for a slot (``max_jobs`` per node, ``per_site`` jobs of one site across all nodes),
records the run (``crawl_runs``, ``running``) and its job (``scrapyd_jobs``), schedules
the job with a unique id pinned to the deployed version, follows it with
``status.json``, fetches its feed and commits it through ``commit_run``, as a local
crawl's pipeline does. Nodes never write SQLite.

Failures: a node that refuses or times out is left for ``node_grace`` and the job goes to
another node; a node unreachable longer than that while running a job has the job
abandoned (cancelled with ``cancel.json`` when it returns) and the run sent elsewhere; a
feed without the run's ``end`` record (a SIGKILLed crawl, which Scrapyd lists as
"finished") fails the run, and the schedule's backoff retries it. A daemon stopped while
jobs run leaves them be: the next one reattaches to them from ``scrapyd_jobs``.

Longer than our usual module: dispatching, following, reattaching and the node watch all
share the nodes' slots and state. The HTTP calls (daemon.scrapyd_client), the section
(daemon.cluster_config), the feed's format (archive.run_feed) and the shipped memory
(archive.shipped_memory) are modules of their own.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from topicwatch.archive import TopicBusy, open_archive, topic_lock
from topicwatch.archive.crawl_memory import run_row
from topicwatch.archive.diagnose import explain
from topicwatch.archive.run_feed import FeedError, FeedRun, read_feed
from topicwatch.archive.runs import begin_run, end_run_without_changes, record_unregistered_run
from topicwatch.archive.scrapyd_jobs import (
    Job,
    NodeState,
    add_job,
    job_in_flight,
    jobs_in,
    runs_of,
    set_job_state,
    set_nodes,
)
from topicwatch.archive.shipped_memory import (
    ARGUMENT_HARD_LIMIT,
    MemoryTooLarge,
    decode,
    encode,
    node_memory,
)
from topicwatch.archive.snapshots import save_fetches
from topicwatch.archive.store import commit_run
from topicwatch.archive.timestamps import iso
from topicwatch.daemon.cluster_config import ScrapydConfig
from topicwatch.daemon.config import TopicConfig
from topicwatch.daemon.scrapyd_client import (
    FeedTooLarge,
    NodeAuthError,
    NodeClient,
    NodeError,
    NodeRefused,
)
from topicwatch.origins import Origins, site_of
from topicwatch.printable import printable

log = logging.getLogger("topicwatch.daemon")
ENRICH_BUDGET = 60.0  # the crawl's default TOPICWATCH_ENRICH_BUDGET
FETCH_MARGIN = 30.0  # seconds past the run's timeout to let the node write its end record


class RunLocally(Exception):
    """The topic cannot go to a node (its memory is too large): crawl it here instead."""


@dataclass(frozen=True)
class Dispatched:
    """A dispatched run's outcome: ``ok``, ``failed``, ``aborted`` or ``busy``."""

    status: str
    run: dict[str, Any] | None
    error: str | None


class _Node:
    def __init__(self, url: str, max_jobs: int, client: NodeClient) -> None:
        self.url = url
        self.max_jobs = max_jobs
        self.client = client
        self.jobs = 0  # this daemon's jobs on it now
        self.down_until = 0.0  # monotonic: left alone until then after a failure
        self.error: str | None = None
        self.running = self.pending = 0


@dataclass(frozen=True)
class _Abandoned:
    """The node stayed unreachable past node_grace (or cut the schedule call short):
    ``error`` is what this dispatch saw, kept with it because the node's own error field
    is reset by the node watch as soon as the node answers a status call again."""

    error: str


class Cluster:
    """The nodes of ``[scrapyd]`` and the runs this daemon has on them."""

    def __init__(
        self,
        config: ScrapydConfig,
        db_path: Path,
        settings: dict[str, str],
        stop: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        reattached: Callable[[str, Dispatched], None] = lambda url, run: None,
        site_slot: Callable[[str], AbstractContextManager[Any]] = lambda site: nullcontext(),
        topics: Callable[[str], TopicConfig | None] = lambda url: None,
    ) -> None:
        self.config = config
        self.db_path = db_path
        self.settings = {**settings, "TOPICWATCH_OUTPUT": "feed"}
        self.stop = stop
        self.clock = clock
        self.reattached = reattached  # a reattached run's outcome (topic URL, outcome)
        # A reattached job counts as a crawl of its site in the daemon's per_site limit
        # (daemon.dispatch), as the scheduled runs dispatched from its slots do.
        self.site_slot = site_slot
        # A topic's config by its URL (None: no longer configured): a feed's pages must
        # come from its origins, and a reattached job ends by its timeout.
        self.topics = topics
        self.nodes = [
            _Node(node.url, node.max_jobs, NodeClient(node.url, config.username, config.password))
            for node in config.nodes
        ]
        self.slots = threading.Condition()
        self.sites: Counter[str] = Counter()
        self.threads: list[threading.Thread] = []

    @contextmanager
    def archive(self) -> Iterator[sqlite_utils.Database]:
        db = open_archive(self.db_path)
        try:
            yield db
        finally:
            db.close()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Reattach to the jobs a previous daemon left running, and watch the nodes."""
        with self.archive() as db:
            left = jobs_in(db, "dispatched")
        jobs: dict[str, list[Job]] = {}
        for row in left:
            jobs.setdefault(row.job, []).append(row)
        for job, rows in jobs.items():
            self._spawn(self._reattach, job, [r.run_id for r in rows], rows[0].node, rows[0].site)
        self._spawn(self._watch)
        if jobs:
            log.info("reattached to %d Scrapyd job(s): %s", len(jobs), sorted(jobs))

    def close(self, within: float = 5.0) -> None:
        """Stop following jobs (they stay on record, dispatched, for the next daemon)."""
        with self.slots:
            self.slots.notify_all()
        deadline = time.monotonic() + within
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _spawn(self, target: Callable[..., Any], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="scrapyd")
        self.threads.append(thread)
        thread.start()

    # ------------------------------------------------------------------ runs

    def crawl(
        self,
        topic: TopicConfig,
        started: datetime,
        deadline: float,
        phase: Callable[[str], None] = lambda text: None,
    ) -> Dispatched | None:
        """Run ``topic`` on a node (None: the daemon is stopping; RunLocally: too large)."""
        results = self.crawl_batch([topic], started, deadline, phase)
        return None if results is None else results[0]

    def crawl_batch(
        self,
        topics: list[TopicConfig],
        started: datetime,
        deadline: float,
        phase: Callable[[str], None] = lambda text: None,
    ) -> list[Dispatched] | None:
        """Run topics of one site as one job (one start-up for all), each its own run,
        committed separately; results in the order given (None: the daemon is stopping)."""
        sites = {site_of(topic.url) for topic in topics}
        if len(sites) != 1:
            raise ValueError(f"a batch is of one site, not {sorted(sites)}")
        results: dict[str, Dispatched | None] = {}
        with ExitStack() as locks:
            locked = []
            for topic in topics:
                try:
                    locks.enter_context(topic_lock(self.db_path, topic.url))
                except TopicBusy as busy:
                    results[topic.url] = Dispatched("busy", None, str(busy))
                    continue
                with self.archive() as db:
                    # A job a previous daemon left is the topic's crawl until it is committed
                    # (a reattach is about to follow it): one crawl of a topic at a time.
                    flying = job_in_flight(db, topic.url)
                if flying is not None:
                    results[topic.url] = Dispatched("busy", None, f"Scrapyd job {flying} runs")
                else:
                    locked.append(topic)
            if locked:
                sent = self._crawl_locked(locked, sites.pop(), started, deadline, phase)
                if sent is None:
                    return None
                results.update(zip([t.url for t in locked], sent, strict=True))
        return [results[topic.url] or Dispatched("aborted", None, None) for topic in topics]

    def _crawl_locked(
        self,
        topics: list[TopicConfig],
        site: str,
        started: datetime,
        deadline: float,
        phase: Callable[[str], Any],
    ) -> list[Dispatched] | None:
        orders = [self._order(topic, deadline) for topic in topics]
        try:
            encode(orders, self.config.max_memory)
        except MemoryTooLarge as error:
            raise RunLocally(str(error)) from None
        phase("waiting for a Scrapyd slot")
        node = self._claim(site, deadline, set())
        if node is None:
            if self.stop.is_set():
                return None
            return [self._unregistered(topic, started, self._no_node_error()) for topic in topics]
        held = [node]  # the node holding the job's slot (it may move to another)
        try:
            with self.archive() as db:
                run_ids = [
                    begin_run(
                        db, topic=topic.name, url=topic.url, trigger="schedule",
                        started_at=started, pid=os.getpid(),
                    )
                    for topic in topics
                ]  # fmt: skip
            numbered = [{**order, "order": run} for order, run in zip(orders, run_ids, strict=True)]
            batch = encode(numbered, ARGUMENT_HARD_LIMIT)
            shortest = min(topic.timeout for topic in topics)
            settings = {**self.settings, **_budget(self.settings, shortest)}
            sent = self._dispatch(run_ids, batch, held, site, deadline, phase, settings)
            return None if sent is None else [sent[run] for run in run_ids]
        finally:
            self._release(held[0], site)

    def _order(self, topic: TopicConfig, deadline: float) -> dict[str, Any]:
        with self.archive() as db:
            memory = node_memory(db, topic.url, int(self.settings.get("TOPICWATCH_ENRICH_MAX", 20)))
        order: dict[str, Any] = {
            "order": 0, "url": topic.url, "topic": topic.name, "max_pages": topic.max_pages,
            "timeout": round(max(1.0, min(topic.timeout, deadline - time.monotonic())), 3),
            "trigger": "schedule", "memory": memory,
        }  # fmt: skip
        if topic.selectors:
            order["selectors"] = topic.selectors
        if topic.allow_hosts:
            order["allow_hosts"] = list(topic.allow_hosts)
        return order

    def _dispatch(
        self,
        run_ids: list[int],
        batch: str,
        held: list[_Node],
        site: str,
        deadline: float,
        phase: Callable[[str], Any],
        settings: dict[str, str],
    ) -> dict[int, Dispatched] | None:
        """Schedule the job, on another node while nodes refuse or vanish (with the runs
        not yet committed from the feed of the job it replaces)."""
        tried: set[str] = set()
        seen: list[str] = []  # what each node tried did, for the runs' error
        done: dict[int, Dispatched] = {}  # committed from a job's feed as it ran
        while True:
            if done:
                run_ids = [run for run in run_ids if run not in done]
                orders = [order for order in decode(batch) if order["order"] in run_ids]
                batch = encode(orders, ARGUMENT_HARD_LIMIT)
            node = held[0]
            job = f"tw-{run_ids[0]}-{uuid.uuid4().hex[:12]}"  # one per attempt, never reused
            with self.archive() as db:
                add_job(db, job, run_ids, node.url, site, self.clock())
            try:
                node.client.schedule(
                    self.config.project, self.config.spider, job, version=self.config.version,
                    args={"batch": batch}, settings=settings,
                )  # fmt: skip
                phase(f"Scrapyd job {job} on {node.url}")
                result = self._follow(job, run_ids, node, deadline + FETCH_MARGIN, done)
            except NodeError as error:
                self._failed(node, error)
                # A refusal is an answer; a call cut short may have scheduled the job all the
                # same: an orphaned crawl, cancelled by the node watch when the node is back.
                state = "refused" if isinstance(error, NodeRefused | NodeAuthError) else "abandoned"
                with self.archive() as db:
                    set_job_state(db, job, state, self.clock(), str(error))
                result = _Abandoned(str(error))
            if not isinstance(result, _Abandoned):
                return done | result if isinstance(result, dict) else None
            seen.append(result.error)
            tried.add(node.url)
            left = [run for run in run_ids if run not in done]
            if not left:  # every run was committed from the feed before the node went
                return done
            if not self._move(held, tried):
                return done | self._fail_all(left, "network", self._no_node_error(seen))
            log.warning("runs %s: sending them to %s instead", run_ids, held[0].url)

    def _follow(
        self,
        job: str,
        run_ids: list[int],
        node: _Node,
        deadline: float,
        done: dict[int, Dispatched],
        feed_runs: list[int] | None = None,
    ) -> Any:
        """Poll the job until its feed can be committed: each run's outcome by run id;
        _Abandoned when the node stays unreachable past the grace; None when the daemon
        stops (the job stays on record, dispatched, for the next daemon to reattach).

        ``done`` gathers the runs committed while the job still runs (a batch's, each as
        soon as the feed shows its end record), so the caller knows them whatever comes.
        ``feed_runs``: every run the job's feed may hold (default ``run_ids``), when some
        were committed before (a job reattached to)."""
        lost_since = unreachable_since = None
        runs = feed_runs or run_ids
        while not self.stop.is_set():
            left = [run for run in run_ids if run not in done]
            try:
                state = node.client.state(self.config.project, job)
                unreachable_since = None
                if state == "running" and len(runs) > 1:
                    self._commit_ended(job, runs, left, node, done)
                if state == "finished" or state is None:
                    try:
                        feed = node.client.feed(self.config.project, self.config.spider, job)
                    except FeedTooLarge as error:  # the job's fault: the node stays in service
                        unusable = f"unusable feed of Scrapyd job {job}: {_shown(error)}"
                        self._fail_all(left, "feed", unusable, job, done)
                        return {run: done[run] for run in run_ids}
                    done |= self._collect(job, runs, left, feed or b"")
                    missing = [run for run in run_ids if run not in done]
                    if not missing:
                        return {run: done[run] for run in run_ids}
                    if state == "finished":
                        self._fail_all(missing, "crash", _no_end(job, node.url), job, done)
                        return {run: done[run] for run in run_ids}
                    # Unknown to the node (restarted): its crawl may still be writing.
                    lost_since = lost_since or time.monotonic()
                    if time.monotonic() - lost_since > self.config.node_grace:
                        self._fail_all(missing, "crash", _lost(job, node.url), job, done)
                        return {run: done[run] for run in run_ids}
            except NodeError as error:
                self._failed(node, error)
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > self.config.node_grace:
                    with self.archive() as db:
                        for run in left:
                            set_job_state(db, job, "abandoned", self.clock(), str(error),
                                          run_id=run)  # fmt: skip
                    return _Abandoned(str(error))
            if time.monotonic() > deadline:
                self._cancel(node, job)
                overran = f"Scrapyd job {job} overran its timeout"
                left = [run for run in run_ids if run not in done]
                self._fail_all(left, "timeout", overran, job, done)
                return {run: done[run] for run in run_ids}
            self.stop.wait(self.config.poll)
        return None

    def _collect(
        self, job: str, runs: list[int], left: list[int], feed: bytes
    ) -> dict[int, Dispatched]:
        """Commit each run of ``left`` whose end record the feed (of ``runs``) holds; an
        unusable feed fails them all."""
        try:
            ended = _ended(feed, job, runs)
        except (FeedError, KeyError, TypeError, ValueError) as error:
            unusable = f"unusable feed of Scrapyd job {job}: {_shown(error)}"
            return self._fail_all(left, "feed", unusable, job)
        return {run: self._commit(job, fed) for run, fed in ended.items() if run in left}

    def _commit_ended(
        self, job: str, runs: list[int], left: list[int], node: _Node, done: dict[int, Any]
    ) -> None:
        """While a batch job runs, commit each run whose end record its feed shows already
        (the node flushes the feed after each): a topic's changes reach the archive when
        its own crawl ends, not when the job's last one does. Anything odd in the feed is
        judged once the job has ended."""
        try:
            feed = node.client.feed(self.config.project, self.config.spider, job)
            ended = _ended(feed or b"", job, runs)
        except (FeedError, FeedTooLarge, KeyError, TypeError, ValueError):
            return
        for run, fed in ended.items():
            if run in left:
                done[run] = self._commit(job, fed)

    def _commit(self, job: str, fed: FeedRun) -> Dispatched:
        """Commit the run as its feed tells it, once: a run no longer ``running`` (committed
        before a restart) is not committed again."""
        if fed.version != self.config.version and self.config.version:
            log.warning("run %d ran topicwatch %s on its node", fed.run_id, fed.version)
        now = self.clock()
        with self.archive() as db:
            row = run_row(db, fed.run_id)
            topic = self.topics(row["url"])
            hosts = topic.allow_hosts if topic is not None else ()
            stray = _off_origins(fed, Origins(row["url"], hosts))
            if row["status"] == "running" and stray is not None:
                stray = _shown(stray)
                # A local crawl never fetches off its origins: committing such a page would
                # take over another topic's page (listing_pages is keyed by URL).
                end_run_without_changes(
                    db, fed.run_id, status="failed", reason="feed", finished_at=now,
                    error=f"unusable feed of Scrapyd job {job}: {stray} is off the topic's "
                    "origins",
                )  # fmt: skip
                log.error("run %d: %s is off the topic's origins", fed.run_id, stray)
            elif row["status"] == "running":
                if fed.status == "ok":
                    try:
                        commit_run(db, fed.run_id, fed.report, now)
                    except sqlite3.Error as error:
                        # As a local crawl's pipeline: failed on record, never half written.
                        end_run_without_changes(
                            db, fed.run_id, status="failed", reason="storage",
                            error=str(explain(self.db_path, error)), finished_at=now,
                        )  # fmt: skip
                else:
                    end_run_without_changes(
                        db, fed.run_id, status=fed.status, reason=fed.reason, error=fed.error,
                        finished_at=now, pages=fed.pages,
                    )  # fmt: skip
                    save_fetches(db, fed.run_id, fed.report.fetches)
            set_job_state(db, job, "committed", now, run_id=fed.run_id)
            run = run_row(db, fed.run_id)
        return Dispatched(run["status"], run, run["error"])

    def _fail_all(
        self,
        run_ids: list[int],
        reason: str,
        error: str,
        job: str | None = None,
        into: dict[int, Dispatched] | None = None,
    ) -> dict[int, Dispatched]:
        """The runs failed on record (and their rows of ``job``); their outcomes, also put
        ``into`` the caller's collection when given."""
        now = self.clock()
        results = into if into is not None else {}
        with self.archive() as db:
            for run_id in run_ids:
                end_run_without_changes(
                    db, run_id, status="failed", reason=reason, error=error, finished_at=now
                )
                if job is not None:
                    set_job_state(db, job, "failed", now, error, run_id=run_id)
                run = run_row(db, run_id)
                results[run_id] = Dispatched(run["status"], run, run["error"])
        log.error("runs %s: %s", run_ids, error)
        return results

    def _unregistered(self, topic: TopicConfig, started: datetime, error: str) -> Dispatched:
        with self.archive() as db:
            run_id = record_unregistered_run(
                db, topic=topic.name, url=topic.url, trigger="schedule", started_at=started,
                pid=os.getpid(), status="failed", reason="network", error=error,
                finished_at=self.clock(),
            )  # fmt: skip
            run = run_row(db, run_id)
        return Dispatched("failed", run, error)

    def _no_node_error(self, seen: Iterable[str] = ()) -> str:
        """Why no node took the job: what this dispatch saw (``seen``), with what the
        nodes are down for now."""
        errors = sorted({*seen, *(node.error for node in self.nodes if node.error)})
        return "no Scrapyd node could take the job" + (f": {'; '.join(errors)}" if errors else "")

    def _cancel(self, node: _Node, job: str) -> None:
        try:
            node.client.cancel(self.config.project, job)
        except NodeError as error:
            log.warning("could not cancel Scrapyd job %s: %s", job, error)

    # ------------------------------------------------------------------ slots

    def _claim(
        self, site: str, deadline: float, exclude: set[str], *, wait: bool = True
    ) -> _Node | None:
        """A node with a free slot for one more job of ``site`` (None: none by the
        deadline, every node down, or the daemon stopping)."""
        with self.slots:
            while not self.stop.is_set():
                now = time.monotonic()
                up = [n for n in self.nodes if n.url not in exclude and n.down_until <= now]
                if not up:
                    return None
                free = [n for n in up if n.jobs < n.max_jobs]
                if free and self.sites[site] < self.config.per_site:
                    node = min(free, key=lambda n: n.jobs / n.max_jobs)
                    node.jobs += 1
                    self.sites[site] += 1
                    return node
                if not wait or now >= deadline:
                    return None
                self.slots.wait(min(self.config.poll, deadline - now))
        return None

    def _move(self, held: list[_Node], exclude: set[str]) -> bool:
        """Move the run's slot to another node that is up and free (the site's count
        stays: it is the same job of the site); False when there is none."""
        with self.slots:
            now = time.monotonic()
            free = [
                n for n in self.nodes
                if n.url not in exclude and n.down_until <= now and n.jobs < n.max_jobs
            ]  # fmt: skip
            if not free:
                return False
            held[0].jobs -= 1
            held[0] = min(free, key=lambda n: n.jobs / n.max_jobs)
            held[0].jobs += 1
            return True

    def _release(self, node: _Node, site: str) -> None:
        with self.slots:
            node.jobs -= 1
            self.sites[site] -= 1
            self.slots.notify_all()

    def _failed(self, node: _Node, error: NodeError) -> None:
        with self.slots:
            node.error = str(error)
            node.down_until = time.monotonic() + self.config.node_grace
        log.warning("%s", error)

    # ------------------------------------------------------------------ reattach, watch

    def _reattach(self, job: str, run_ids: list[int], url: str, site: str) -> None:
        """Follow a job a previous daemon dispatched, and commit its runs."""
        node = next((n for n in self.nodes if n.url == url), None)
        if node is None:
            self._fail_all(run_ids, "network", f"node {url} of job {job} is not configured", job)
            return
        with self.archive() as db:
            urls = [run_row(db, run)["url"] for run in run_ids]
            feed_runs = runs_of(db, job)  # with any of a batch committed before the restart
        try:
            with ExitStack() as held:
                # The topics' locks first, then the slot, as crawl() takes them: a scheduled
                # run holding the lock and waiting for the site's slot must not wait on us.
                for topic_url in urls:
                    held.enter_context(topic_lock(self.db_path, topic_url, wait=3600.0))
                held.enter_context(self.site_slot(site))
                with self.slots:
                    node.jobs += 1
                    self.sites[site] += 1
                held.callback(self._release, node, site)
                done: dict[int, Dispatched] = {}
                # Its crawl had the topic's timeout when dispatched: it has no more now.
                topics = [self.topics(url) for url in urls]
                timeout = max(t.timeout if t is not None else TopicConfig.timeout for t in topics)
                deadline = time.monotonic() + timeout + FETCH_MARGIN
                result = self._follow(job, run_ids, node, deadline, done, feed_runs)
                if isinstance(result, _Abandoned):
                    gone = f"node {url} unreachable; job {job} abandoned"
                    left = [run for run in run_ids if run not in done]
                    result = done | self._fail_all(left, "network", gone)
        except TopicBusy as busy:
            log.error("could not reattach to Scrapyd job %s: %s", job, busy)
            return
        for run, outcome in (result or {}).items():
            self.reattached(urls[run_ids.index(run)], outcome)

    def _watch(self) -> None:
        """Check every node now and then: for ``topicwatch status``, to take a node back
        once it answers again, and to cancel the jobs abandoned on it meanwhile."""
        period = min(30.0, max(1.0, self.config.poll * 5))
        while not self.stop.is_set():
            states = [self._check(node) for node in self.nodes]
            try:
                with self.archive() as db:
                    set_nodes(db, states)
                    abandoned = jobs_in(db, "abandoned")
                cancelled: dict[str, str | None] = {}  # job: the node's refusal, if any
                for job in abandoned:
                    node = next((n for n in self.nodes if n.url == job.node), None)
                    if node is not None and node.down_until == 0.0:
                        if job.job not in cancelled:
                            try:
                                node.client.cancel(self.config.project, job.job)
                                log.info("cancelled abandoned Scrapyd job %s on %s", job.job,
                                         node.url)  # fmt: skip
                                cancelled[job.job] = None
                            except NodeRefused as refused:  # it has nothing to cancel
                                cancelled[job.job] = str(refused)
                        with self.archive() as db:
                            # Its abandoned runs only: a batch's runs committed before stay so.
                            set_job_state(db, job.job, "cancelled", self.clock(),
                                          cancelled[job.job], run_id=job.run_id)  # fmt: skip
            except NodeError as error:
                log.warning("%s", error)
            except Exception as error:  # the watch must outlive a busy archive
                log.warning("Scrapyd node watch: %s: %s", type(error).__name__, error)
            self.stop.wait(period)

    def _check(self, node: _Node) -> NodeState:
        try:
            running, pending = node.client.daemonstatus()
        except NodeError as error:
            self._failed(node, error)
            return NodeState(node.url, False, node.running, node.pending, str(error), self._now())
        with self.slots:
            node.running, node.pending = running, pending
            node.error, node.down_until = None, 0.0
            self.slots.notify_all()
        return NodeState(node.url, True, node.running, node.pending, None, self._now())

    def _now(self) -> str:
        return iso(self.clock())


def _budget(settings: dict[str, str], timeout: float) -> dict[str, str]:
    """Article pages must never keep a run past its timeout: enrichment gets a third (as
    the daemon's local crawls)."""
    try:
        budget = float(settings.get("TOPICWATCH_ENRICH_BUDGET", ENRICH_BUDGET))
    except ValueError:
        budget = ENRICH_BUDGET
    return {"TOPICWATCH_ENRICH_BUDGET": f"{min(budget, timeout / 3):g}"}


def _ended(feed: bytes, job: str, runs: list[int]) -> dict[int, FeedRun]:
    """The runs whose end record the feed holds. Its last line is whole only when it ends
    the file: a crawl killed (or still writing) mid-line leaves a partial one."""
    return read_feed(feed.split(b"\n")[:-1], job, runs)


def _shown(text: object) -> str:
    """Text from a node's feed as one bounded line (a run's error, a log line)."""
    shown = printable(str(text))
    return shown if len(shown) <= 300 else shown[:300] + "…"


def _off_origins(fed: FeedRun, origins: Origins) -> str | None:
    """The first page or fetch of the run's feed its crawl could not have made."""
    urls = [page.url for page in fed.report.pages] + [f.url for f in fed.report.fetches]
    return next((url for url in urls if not origins.permit(url)), None)


def _no_end(job: str, node: str) -> str:
    return f"Scrapyd job {job} on {node} finished without its end record (its crawl was killed?)"


def _lost(job: str, node: str) -> str:
    return f"Scrapyd job {job} is unknown to {node} and left no end record (node restarted?)"
