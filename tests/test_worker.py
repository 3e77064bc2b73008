"""The warm crawl worker end to end: a real worker process, real orders on its stdin, a
real local site, a real archive. Synchronisation is the worker's own output: every wait
is for a protocol line, with deadlines generous enough for a loaded 2-core machine.
"""

from __future__ import annotations

import json
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from conftest import TEST_SETTINGS, child_env, rows, scalar
from fault_site import FaultSite
from fixture_site import make_articles

from topicwatch.archive.lock import topic_lock

DEADLINE = 90.0  # seconds for one protocol line: runs take well under a second unloaded


class Worker:
    """A ``python -m topicwatch.crawler.worker`` child; every stdout line must be JSON."""

    def __init__(self, db: Path, **settings: Any) -> None:
        command = [sys.executable, "-m", "topicwatch.crawler.worker", "--db", str(db)]
        for name, value in {**TEST_SETTINGS, "TOPICWATCH_ENRICH": "false", **settings}.items():
            command += ["-s", f"{name}={value}"]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._drain_stderr, daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr.extend(self.process.stderr)

    def order(self, number: int, url: str, **fields: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"order": number, "url": url, **fields}) + "\n")
        self.process.stdin.flush()

    def next(self) -> dict[str, Any]:
        """The next protocol line (it must be one JSON object)."""
        try:
            line = self.lines.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"no line in {DEADLINE}s; stderr: {self.log()}") from None
        assert line is not None, f"the worker ended early; stderr: {self.log()}"
        return json.loads(line)

    def results(self, count: int) -> dict[Any, dict[str, Any]]:
        """The next ``count`` run results, by order number."""
        found = [self.next() for _ in range(count)]
        return {line["order"]: line for line in found}

    def end_input(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def exit_code(self) -> int:
        code = self.process.wait(timeout=DEADLINE)
        rest = []
        while (line := self.lines.get(timeout=DEADLINE)) is not None:
            rest.append(line)
        assert not rest, rest  # nothing left unread by the test
        return code

    def log(self) -> str:
        return "".join(self.stderr)[-3000:]

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=DEADLINE)
        for reader in self.readers:
            reader.join(timeout=DEADLINE)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def run_rows(db: Path) -> dict[int, tuple[str, str, str | None, str]]:
    found = rows(db, "select id, topic, status, reason, trigger from crawl_runs")
    return {
        run_id: (topic, status, reason, trigger) for run_id, topic, status, reason, trigger in found
    }


@pytest.fixture
def fault_site() -> Any:
    with FaultSite() as running:
        yield running


def test_a_worker_runs_orders_for_several_topics_each_committed_on_its_own(site, db):
    site.set_listing("ukraine", make_articles(5, start=100))
    with Worker(db) as worker:
        worker.order(1, site.topic_url("nato"), topic="nato")
        worker.order(2, site.topic_url("ukraine"), max_pages=2)
        first = worker.results(2)
        worker.order(3, site.topic_url("nato"))  # unchanged: a 304, nothing new
        (again,) = worker.results(1).values()
        worker.end_input()
        assert worker.exit_code() == 0, worker.log()
    assert {n: (r["status"], r["items_new"]) for n, r in first.items()} == {
        1: ("ok", len(site.topics["nato"])),
        2: ("ok", 5),
    }
    assert (again["order"], again["status"], again["items_new"]) == (3, "ok", 0)
    assert again["line"].startswith(f"nato: ok run {again['run_id']}: ")
    run_ids = {first[1]["run_id"], first[2]["run_id"], again["run_id"]}
    assert run_rows(db) == {
        first[1]["run_id"]: ("nato", "ok", None, "schedule"),
        first[2]["run_id"]: ("ukraine", "ok", None, "schedule"),
        again["run_id"]: ("nato", "ok", None, "schedule"),
    }
    assert len(run_ids) == 3
    # Each run committed its own versions: one transaction per run, not per worker.
    assert sorted(rows(db, "select run_id, count(*) from item_versions group by run_id")) == [
        (first[1]["run_id"], len(site.topics["nato"])),
        (first[2]["run_id"], 5),
    ]
    assert scalar(db, "select count(distinct pid) from crawl_runs") == 1


def test_a_hanging_topic_times_out_while_another_order_in_the_worker_completes(fault_site, db):
    fault_site.set_listing("ukraine", make_articles(5, start=100))
    fault_site.hold("/articles/tag/nato/")
    # Two downloads at a time on the one test host, so the hanging request holds only one;
    # the download timeout is far off, so only the run's own timeout can end the run.
    with Worker(db, CONCURRENT_REQUESTS_PER_DOMAIN="2", DOWNLOAD_TIMEOUT="120") as worker:
        worker.order(1, fault_site.topic_url("nato"), timeout=2)
        worker.order(2, fault_site.topic_url("ukraine"), timeout=60)
        results = worker.results(2)
        fault_site.release()  # the hanging page now arrives, late: it must change nothing
        worker.end_input()
        assert worker.exit_code() == 0, worker.log()
    hung, other = results[1], results[2]
    assert (hung["status"], hung["reason"], hung["items_seen"]) == ("failed", "timeout", 0)
    assert "timeout (2s)" in hung["error"]
    assert (other["status"], other["items_new"]) == ("ok", 5)
    assert run_rows(db)[hung["run_id"]][1:3] == ("failed", "timeout")
    assert scalar(db, "select count(*) from item_versions where run_id = ?", (hung["run_id"],)) == 0


def test_a_callback_crash_on_one_topic_fails_that_run_only(site, db):
    site.set_listing("ukraine", make_articles(5, start=100))
    with Worker(db) as worker:
        # A selector the extractor cannot even parse: the listing callback raises.
        worker.order(1, site.topic_url("nato"), selectors={"item": "div["})
        worker.order(2, site.topic_url("ukraine"))
        results = worker.results(2)
        worker.order(3, site.topic_url("nato"))  # the worker and the topic go on
        (after,) = worker.results(1).values()
        worker.end_input()
        assert worker.exit_code() == 0, worker.log()
    assert (results[1]["status"], results[1]["reason"]) == ("failed", "crash")
    assert "SelectorSyntaxError" in results[1]["error"]
    assert (results[2]["status"], results[2]["items_new"]) == ("ok", 5)
    assert (after["status"], after["items_new"]) == ("ok", len(site.topics["nato"]))


def test_end_of_input_finishes_the_runs_in_flight_and_exits_0(site, db):
    with Worker(db) as worker:
        worker.order(1, site.topic_url("nato"))
        worker.end_input()  # at once: the order is still in flight
        (result,) = worker.results(1).values()
        assert worker.exit_code() == 0, worker.log()
    assert result["status"] == "ok"
    assert scalar(db, "select count(*) from crawl_runs where status = 'running'") == 0


def test_a_busy_topic_is_answered_busy_and_the_worker_goes_on(site, db):
    with Worker(db) as worker:
        worker.order(1, site.topic_url("nato"))
        worker.results(1)
        with topic_lock(db, site.topic_url("nato")):
            worker.order(2, site.topic_url("nato"))
            (busy,) = worker.results(1).values()
        worker.order(3, site.topic_url("nato"))
        (later,) = worker.results(1).values()
        worker.end_input()
        assert worker.exit_code() == 0, worker.log()
    assert (busy["order"], busy["status"], busy["reason"]) == (2, "busy", "busy")
    assert "run_id" not in busy
    assert later["status"] == "ok"


def test_a_bad_order_is_refused_with_its_number(site, db):
    with Worker(db) as worker:
        worker.order(1, "ftp://example.invalid/x")
        worker.order(2, site.topic_url(), max_pages=0)
        refused = worker.results(2)
        worker.end_input()
        assert worker.exit_code() == 0, worker.log()
    assert {n: r["status"] for n, r in refused.items()} == {1: "refused", 2: "refused"}
    assert "max_pages" in refused[2]["error"]


def test_the_worker_asks_to_be_recycled_after_n_runs_and_exits_by_itself(site, db):
    site.set_listing("ukraine", make_articles(5, start=100))
    with Worker(db, TOPICWATCH_WORKER_MAX_RUNS="2") as worker:
        worker.order(1, site.topic_url("nato"))
        worker.order(2, site.topic_url("ukraine"))
        results = [worker.next() for _ in range(3)]
        assert worker.exit_code() == 0, worker.log()  # stdin still open
    assert [line.get("order") for line in results[:2]].count(None) == 0
    assert results[2]["event"] == "recycle" and results[2]["runs"] == 2


def test_the_worker_asks_to_be_recycled_over_its_rss_ceiling(site, db):
    # A Scrapy process holds tens of MiB: over a 1 MiB ceiling after its first run.
    with Worker(db, TOPICWATCH_WORKER_MAX_RSS_MB="1") as worker:
        worker.order(1, site.topic_url("nato"))
        done, recycle = worker.next(), worker.next()
        assert worker.exit_code() == 0, worker.log()  # stdin still open
    assert (done["order"], done["status"]) == (1, "ok")
    assert (recycle["event"], recycle["runs"]) == ("recycle", 1) and recycle["rss_mb"] > 1
    assert scalar(db, "select count(*) from crawl_runs") == 1


def test_sigterm_records_the_runs_in_flight_as_aborted(fault_site, db):
    fault_site.hold("/articles/tag/nato/")
    # Scrapy lets the held download end (its timeout) before it stops: 4 s, not 10.
    with Worker(db, DOWNLOAD_TIMEOUT="4") as worker:
        worker.order(1, fault_site.topic_url("nato"))
        # The run is in flight once its request reached the site.
        _wait_for_request(fault_site, "/articles/tag/nato/")
        worker.process.send_signal(signal.SIGTERM)
        (aborted,) = worker.results(1).values()
        assert worker.exit_code() == 0, worker.log()
    assert (aborted["status"], aborted["reason"]) == ("aborted", "shutdown")
    assert scalar(db, "select count(*) from crawl_runs where status = 'running'") == 0


def _wait_for_request(site: FaultSite, path: str) -> None:
    """Wait (on the site's own record, not a sleep) until ``path`` was requested."""
    arrived = threading.Event()
    site.after_serving(path, arrived.set)
    if site.hits(path) == 0:
        assert arrived.wait(DEADLINE), f"{path} was never requested"


def test_a_worker_whose_archive_is_replaced_recycles_and_writes_nothing_more(site, db):
    """A connection stays on a file deleted or replaced under it: a run there would be lost
    with the old file. The worker says so, refuses the order (the pool passes it on to a
    worker that opens what the path names now) and exits once drained."""
    with Worker(db) as worker:
        worker.order(1, site.topic_url("nato"))
        (first,) = worker.results(1).values()
        copy = db.with_name("copy.db")
        with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        source.close()
        target.close()
        copy.replace(db)  # a restore from backup, say
        kept = rows(db, "select id, status from crawl_runs")
        worker.order(2, site.topic_url("nato"))
        recycle, refused = worker.next(), worker.next()
        assert worker.exit_code() == 0, worker.log()
    assert first["status"] == "ok"
    assert recycle == {"event": "recycle", "runs": 1, "why": "archive replaced"}
    assert refused == {"order": 2, "status": "refused", "error": "recycling"}
    assert rows(db, "select id, status from crawl_runs") == kept == [(first["run_id"], "ok")]


def test_a_run_the_archive_refuses_to_begin_lets_go_of_its_topic_lock(site, db):
    """Another writer holds the archive past the busy timeout (30 s) as a run begins: the
    order fails saying so, and the worker lets go of the topic's lock it had taken, or
    every later order for the topic would be "busy", held by the worker itself."""
    with Worker(db) as worker:
        worker.order(1, site.topic_url("nato"))
        (first,) = worker.results(1).values()
        other = sqlite3.connect(db, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            worker.order(2, site.topic_url("nato"))
            (refused,) = worker.results(1).values()
        finally:
            other.execute("ROLLBACK")
            other.close()
        worker.order(3, site.topic_url("nato"))
        (after,) = worker.results(1).values()
        worker.end_input()
        assert worker.exit_code() == 0, worker.log()
    assert first["status"] == "ok"
    assert (refused["order"], refused["status"], refused["reason"]) == (
        2,
        "failed",
        "archive_error",
    )
    assert "busy timeout" in refused["error"], refused
    assert (after["order"], after["status"]) == (3, "ok"), after
