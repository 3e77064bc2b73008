"""Fair dispatch under overload, and politeness across crawl slots and workers.

The executor tests run a real APScheduler scheduler in this process with jobs that block on
events (so each test decides when a slot frees); the daemon tests run a real daemon, real
workers and real local sites. A second site is the fixture site on another loopback
address (127.0.0.3): another host to the crawler, as to Scrapy.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from daemon_helpers import Daemon, runs, wait_until
from fault_site import FaultSite
from fixture_site import make_articles
from test_daemon_workers import pool_config, scheduled_ok, status

from topicwatch.daemon.dispatch import FairExecutor
from topicwatch.daemon.service import site_gap

DEADLINE = 90.0
NATO = "/articles/tag/nato/"


# ---------------------------------------------------------------------- the executor


class Jobs:
    """Jobs named by site and number that record when they start and end, and wait for
    :meth:`release` when told to hold."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.spans: dict[str, tuple[float, float]] = {}
        self.gates: dict[str, threading.Event] = {}
        self.changed = threading.Condition()

    def job(self, name: str, *, hold: bool = False) -> Callable[[], None]:
        if hold:
            self.gates[name] = threading.Event()

        def run() -> None:
            began = time.monotonic()
            with self.changed:
                self.started.append(name)
                self.changed.notify_all()
            if name in self.gates:
                assert self.gates[name].wait(DEADLINE)
            with self.changed:
                self.spans[name] = (began, time.monotonic())
                self.changed.notify_all()

        return run

    def release(self, name: str) -> None:
        self.gates[name].set()

    def wait_started(self, *names: str) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: set(names) <= set(self.started), DEADLINE), (
                self.started
            )

    def wait_ended(self, *names: str) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: set(names) <= set(self.spans), DEADLINE), (
                self.spans
            )


@pytest.fixture
def scheduler() -> Iterator[Callable[..., BackgroundScheduler]]:
    made: list[BackgroundScheduler] = []

    def make(size: int, **limits: Any) -> BackgroundScheduler:
        executor = FairExecutor(size, lambda job: job.id.split("-")[0], **limits)
        started = BackgroundScheduler(
            executors={"default": executor},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        started.start()
        made.append(started)
        return started

    yield make
    for each in made:
        each.shutdown(wait=False)


def due(scheduler: BackgroundScheduler, name: str, run: Callable[[], None], ago: float) -> None:
    """A one-off job ``name`` that fell due ``ago`` seconds ago."""
    at = datetime.now(UTC) - timedelta(seconds=ago)
    scheduler.add_job(run, "date", run_date=at, id=name, misfire_grace_time=None)


def test_the_check_due_longest_runs_first_whatever_order_it_arrived_in(scheduler):
    jobs = Jobs()
    crawls = scheduler(1, per_site=5)
    due(crawls, "a-holder", jobs.job("a-holder", hold=True), ago=0)
    jobs.wait_started("a-holder")
    # Submitted first but due a second ago; then one due a minute ago (a coalesced, late
    # check): a first-in-first-out pool would run "b-recent" first.
    due(crawls, "b-recent", jobs.job("b-recent"), ago=1)
    wait_until(lambda: len(crawls._executors["default"].waiting()) == 1, DEADLINE, "queued")
    due(crawls, "c-late", jobs.job("c-late"), ago=60)
    wait_until(lambda: len(crawls._executors["default"].waiting()) == 2, DEADLINE, "queued")
    waiting = [w.job_id for w in crawls._executors["default"].waiting()]
    assert waiting == ["c-late", "b-recent"]
    jobs.release("a-holder")
    jobs.wait_ended("b-recent", "c-late")
    assert jobs.started == ["a-holder", "c-late", "b-recent"]


def test_a_site_at_its_limit_waits_while_other_sites_take_the_free_slots(scheduler):
    jobs = Jobs()
    crawls = scheduler(3, per_site=1)
    due(crawls, "a-1", jobs.job("a-1", hold=True), ago=3)
    jobs.wait_started("a-1")
    due(crawls, "a-2", jobs.job("a-2"), ago=2)  # due before b-1: still, its site is busy
    due(crawls, "b-1", jobs.job("b-1"), ago=1)
    jobs.wait_ended("b-1")
    assert "a-2" not in jobs.started
    jobs.release("a-1")
    jobs.wait_ended("a-1", "a-2")
    assert jobs.spans["a-2"][0] >= jobs.spans["a-1"][1]  # never two crawls of site a at once


def test_a_crawl_running_outside_the_slots_counts_in_its_site_s_limit(scheduler):
    """A Scrapyd job a restarted daemon follows again runs outside the slots: while it is
    held, its site's checks wait and other sites' run."""
    jobs = Jobs()
    crawls = scheduler(2, per_site=1)
    executor = crawls._executors["default"]
    with executor.holding("a"):
        due(crawls, "a-1", jobs.job("a-1"), ago=2)
        due(crawls, "b-1", jobs.job("b-1"), ago=1)
        jobs.wait_ended("b-1")
        assert "a-1" not in jobs.started
        assert [w.job_id for w in executor.waiting()] == ["a-1"]
        assert executor.running() == {"a": 1}
    jobs.wait_ended("a-1")


def test_jobs_taken_along_run_in_the_taker_s_slot_before_its_site_is_free(scheduler):
    """A Scrapyd batch: the running job takes queued jobs of its site along; they leave
    the queue, run in its slot right after it, and the site's other jobs wait for them."""
    crawls = scheduler(2, per_site=1)
    executor = crawls._executors["default"]
    gate, ran, changed = threading.Event(), [], threading.Condition()

    def job(name: str) -> Callable[[], None]:
        def run() -> None:
            if name == "a-lead":
                assert gate.wait(DEADLINE)
                along = executor.take_along("a", lambda j: j.id.startswith("a-ride"), 5)
                assert sorted(j.id for j in along) == ["a-ride1", "a-ride2"]
                assert [w.job_id for w in executor.waiting()] == ["a-other"]
            with changed:
                ran.append((name, threading.current_thread().name))
                changed.notify_all()

        return run

    due(crawls, "a-lead", job("a-lead"), ago=5)
    wait_until(lambda: executor.running() == {"a": 1}, DEADLINE, "a-lead running")
    for name, ago in (("a-ride1", 4), ("a-other", 3), ("a-ride2", 2)):
        due(crawls, name, job(name), ago=ago)
    wait_until(lambda: len(executor.waiting()) == 3, DEADLINE, "three queued")
    gate.set()
    with changed:
        assert changed.wait_for(lambda: len(ran) == 4, DEADLINE), ran
    assert [name for name, _ in ran] == ["a-lead", "a-ride1", "a-ride2", "a-other"]
    assert len({thread for name, thread in ran if name != "a-other"}) == 1  # one slot
    # Each ended its APScheduler instance: due again, each runs again.
    due(crawls, "a-ride1", job("a-ride1"), ago=0)
    with changed:
        assert changed.wait_for(lambda: len(ran) == 5, DEADLINE), ran


def test_a_site_rests_its_download_delay_between_crawls_on_any_slot(scheduler):
    jobs = Jobs()
    crawls = scheduler(2, per_site=1, site_gap=0.5)
    due(crawls, "a-1", jobs.job("a-1"), ago=2)
    due(crawls, "a-2", jobs.job("a-2"), ago=1)
    jobs.wait_ended("a-1", "a-2")
    assert jobs.spans["a-2"][0] - jobs.spans["a-1"][1] >= 0.5


def test_the_gap_between_a_site_s_crawls_is_the_crawl_s_download_delay():
    assert site_gap({"DOWNLOAD_DELAY": "2.5"}) == 2.5
    assert site_gap({}) == 1.0  # crawler.settings' DOWNLOAD_DELAY
    assert site_gap({"DOWNLOAD_DELAY": "-1"}) == 0.0


# ---------------------------------------------------------------------- the daemon


@pytest.fixture
def sites() -> Iterator[tuple[FaultSite, FaultSite]]:
    with FaultSite() as first, FaultSite(host="127.0.0.3") as second:
        for site in (first, second):
            site.set_listing("uk", make_articles(20, start=300))
            site.set_listing("fr", make_articles(20, start=600))
        yield first, second


def test_one_site_is_crawled_by_one_worker_at_a_time_while_another_site_goes_on(
    sites, db, tmp_path
):
    first, second = sites
    entries = [
        {"name": "nato", "url": first.topic_url("nato")},
        {"name": "uk", "url": first.topic_url("uk")},
        {"name": "fr", "url": first.topic_url("fr")},
        {"name": "other", "url": second.topic_url("uk")},
    ]
    path = pool_config(tmp_path, db, entries, crawl_workers=2, concurrency=3, per_site=1)
    first.hold(NATO)
    with Daemon(path) as daemon:
        (held,) = wait_until(lambda: runs(db, "nato", "running"), DEADLINE, "nato in flight")
        others = len(scheduled_ok(db, "other"))
        # The other site is crawled again and again meanwhile; this one's other topics wait.
        wait_until(lambda: len(scheduled_ok(db, "other")) >= others + 3, DEADLINE, "3 more")
        # Run ids count registrations (timestamps are whole seconds): none of this site's
        # topics registered a run while the held one was in flight.
        since = [r for r in runs(db) if r["topic"] in ("uk", "fr") and r["id"] > held["id"]]
        assert since == [], daemon.output
        assert runs(db, "nato", "running") == [held]
        first.release()
        for name in ("nato", "uk", "fr"):
            wait_until(lambda n=name: len(scheduled_ok(db, n)) >= 2, DEADLINE, f"2 {name} runs")


def test_under_overload_every_topic_gets_its_turn_and_status_says_how_late(sites, db, tmp_path):
    first, _ = sites
    names = ["nato", "uk", "fr", "de"]
    first.set_listing("de", make_articles(20, start=900))
    entries = [{"name": n, "url": first.topic_url(n)} for n in names]
    # One slot, a child process per check (a second or more each) and four topics due
    # every second: checks fall due several times faster than they can run.
    path = pool_config(tmp_path, db, entries, crawl_workers=0, concurrency=1, per_site=4)
    with Daemon(path) as daemon:
        wait_until(lambda: runs(db), DEADLINE, "a first run")
        late = wait_until(
            lambda: [t for t in json.loads(status(db, "--json"))["topics"] if t["waiting_since"]],
            DEADLINE,
            "a topic shown late",
        )
        assert "LATE: due" in status(db)
        daemon.wait_for_output("over capacity", DEADLINE)

        def counts() -> dict[str, int]:
            return {n: len([r for r in runs(db, n) if r["trigger"] == "schedule"]) for n in names}

        def fair_turns() -> dict[str, int] | None:
            now = counts()
            return now if min(now.values()) >= 3 else None

        done = wait_until(fair_turns, DEADLINE * 2, "3 runs of every topic")
    # Longest due first is a turn each: no topic is ever two runs ahead of another.
    assert max(done.values()) - min(done.values()) <= 1, (done, daemon.output)
    assert daemon.output.count("over capacity") == 1, daemon.output
    assert late[0]["name"] in names
