"""The fault matrix, processes: kills, signals, concurrent crawls and a reader holding on.

Crawls that must stay in flight are held by the site (the topic page is answered only
when the test releases it), and the tests wait for observable states (a request
arriving, a lock file open in a process) against deadlines, never for guessed times.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Crawl, rows, scalar
from fault_checks import (  # noqa: F401 (fixtures)
    TOPIC_PATH,
    Case,
    as_params,
    assert_nothing_lost,
    assert_outcome,
    baseline_fixture,
    case_fixture,
    crawl_argv,
    fault_env,
    fault_site_fixture,
    wait_for,
)
from fault_matrix import row
from fault_matrix import rows as matrix_rows
from fixture_site import make_articles

from topicwatch.archive.lock import lock_path

ROOT = Path(__file__).parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # bench/ is not an installed package

from bench.sigkill import kill_loop  # noqa: E402

P = TOPIC_PATH
HELD = {"DOWNLOAD_TIMEOUT": "30"}  # a held page must outlast the test's own steps
COVERED: set[str] = set()


def covers(fault_id: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a test as the check of one matrix row (see test_every_row_is_covered)."""
    row(fault_id)  # fails at import for an unknown id
    COVERED.add(fault_id)
    return lambda test: test


def test_every_row_is_covered():
    assert {fault.id for fault in matrix_rows("process")} == COVERED


def start(case: Case, *args: str, url: str | None = None, **settings: str) -> subprocess.Popen[str]:
    argv = crawl_argv(url or case.site.topic_url(), case.db, *args, **{**HELD, **settings})
    return subprocess.Popen(
        argv, env=fault_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str]) -> Crawl:
    stdout, stderr = process.communicate(timeout=120)
    return Crawl(process.returncode, stdout, stderr)


def holds_lock(pid: int, lock: Path) -> bool:
    """Whether process ``pid`` has the topic's lock file open (waiting for, or holding it)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(fd.resolve() == lock.resolve() for fd in fds.iterdir())
    except (FileNotFoundError, PermissionError):
        return False


# --------------------------------------------------------------------------- kills


@covers("sigkill-during-write")
def test_sigkill_during_the_archive_write_leaves_each_run_whole_or_absent(tmp_path):
    _, outcomes = kill_loop(5, tmp_path, seed=7)
    _assert_killed_runs_consistent(outcomes, tmp_path / "archive.db")


@covers("sigkill-during-write")
@pytest.mark.slow
def test_sigkill_fifty_times(tmp_path):
    _, outcomes = kill_loop(50, tmp_path, seed=50)
    _assert_killed_runs_consistent(outcomes, tmp_path / "archive.db")


def _assert_killed_runs_consistent(outcomes: list[Any], db: Path) -> None:
    assert [o.problems for o in outcomes if not o.consistent] == []
    assert any(o.inside_write and not o.committed for o in outcomes), "no kill hit the write"
    fault = row("sigkill-during-write")
    aborted = rows(db, "SELECT status, reason, error FROM crawl_runs WHERE status != 'ok'")
    assert len(aborted) == sum(not o.committed for o in outcomes)
    status, reason = fault.run.split("/")
    assert all((s, r) == (status, reason) and fault.error in e for s, r, e in aborted)


@covers("sigterm")
def test_sigterm_mid_crawl_aborts_the_run_and_changes_nothing(case):
    before = case.state()
    case.site.add_articles(make_articles(3))  # would be new, had the run finished
    case.site.hold(P)
    process = start(case, DOWNLOAD_TIMEOUT="2")  # Scrapy lets in-flight downloads end first
    wait_for(lambda: case.site.hits(P), what="the topic page request")
    process.send_signal(signal.SIGTERM)
    crawl = finish(process)
    assert_outcome(row("sigterm"), crawl)
    assert_nothing_lost(before, case.state())


# --------------------------------------------------------------------------- concurrency


@covers("same-topic-busy")
def test_a_second_crawl_of_the_same_topic_is_refused(case):
    before = case.state()
    case.site.hold(P)
    first = start(case)
    wait_for(lambda: case.site.hits(P), what="the first crawl's page request")
    second = finish(start(case))
    assert_outcome(row("same-topic-busy"), second)
    assert f"pid {first.pid}" in second.stderr
    assert scalar(case.db, "SELECT count(*) FROM crawl_runs") == 2  # baseline + the first
    case.site.release(P)
    assert finish(first).run["status"] == "ok"
    assert_nothing_lost(before, case.state())


@covers("same-topic-wait")
def test_a_second_crawl_with_wait_runs_after_the_first(case):
    before = case.state()
    case.site.hold(P)
    first = start(case)
    wait_for(lambda: case.site.hits(P), what="the first crawl's page request")
    second = start(case, "--wait", "30")
    lock = lock_path(case.db, case.site.topic_url())
    wait_for(lambda: holds_lock(second.pid, lock), what="the second crawl waiting on the lock")
    case.site.release(P)
    first_run = finish(first).run
    waited = finish(second)
    run = assert_outcome(row("same-topic-wait"), waited)
    assert run is not None and run["started_at"] >= first_run["finished_at"]
    assert (first_run["items_new"], run["items_new"]) == (0, 0)
    assert_nothing_lost(before, case.state())


@covers("two-topics")
def test_two_topics_crawled_at_once_both_succeed(case):
    before = case.state()
    other = "/articles/tag/uk/"
    case.site.set_listing("uk", make_articles(20, start=500))
    case.site.hold(P)
    case.site.hold(other)
    crawls = [start(case), start(case, url=case.site.topic_url("uk"))]
    wait_for(lambda: case.site.hits(P) and case.site.hits(other), what="both page requests")
    case.site.release()
    nato, uk = (assert_outcome(row("two-topics"), finish(c)) for c in crawls)
    assert nato is not None and uk is not None
    assert (nato["items_new"], uk["items_new"]) == (0, 20)
    assert_nothing_lost(before, case.state(), Counter(new=20))


@covers("reader-holds-snapshot")
def test_a_reader_holding_a_snapshot_does_not_block_a_crawl(case):
    before = case.state()
    reader = sqlite3.connect(case.db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM items").fetchone() == (20,)
        case.site.add_articles(make_articles(3))
        crawl = case.crawl(DOWNLOAD_TIMEOUT="5")
        run = assert_outcome(row("reader-holds-snapshot"), crawl)
        assert run is not None and run["items_new"] == 3
        assert reader.execute("SELECT count(*) FROM items").fetchone() == (20,)
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM items").fetchone() == (23,)
    finally:
        reader.close()
    assert_nothing_lost(before, case.state(), Counter(new=3))


@covers("same-name-other-site")
@pytest.mark.parametrize("fault", as_params([row("same-name-other-site")]))
def test_a_topic_named_like_another_is_archived_separately(fault, case):
    before = case.state()
    other = "/news/tag/nato/"  # another site's "nato" tag, in effect
    case.site.serve_raw(other, case.site.page_bytes(P))
    crawl = case.crawl(url=case.site.base_url + other)
    assert_outcome(fault, crawl)
    assert scalar(case.db, "SELECT count(*) FROM topics") == 2
    assert_nothing_lost(before, case.state())
