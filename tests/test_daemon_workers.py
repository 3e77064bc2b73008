"""The daemon with a pool of warm crawl workers (``crawl_workers``) end to end: a real
daemon process, real worker processes, a real local site and archive.

Every wait polls the archive or the daemon's log against a generous deadline (a loaded
2-core machine); held pages (FaultSite.hold) keep a run in flight for as long as a test
needs, instead of a guessed sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import child_env, rows
from daemon_helpers import Daemon, runs, wait_until, write_config
from fault_site import FaultSite
from fixture_site import make_articles

from topicwatch.archive.daemon_state import pid_alive
from topicwatch.daemon.workers import ANSWER_MARGIN

DEADLINE = 90.0
NATO = "/articles/tag/nato/"


@pytest.fixture
def site() -> Iterator[FaultSite]:
    with FaultSite() as running:
        running.set_listing("uk", make_articles(20, start=300))
        running.set_listing("fr", make_articles(20, start=600))
        yield running


def topics(site: FaultSite, *tags: str, **keys: Any) -> list[dict[str, Any]]:
    return [{"name": tag, "url": site.topic_url(tag), **keys} for tag in tags]


def scheduled_ok(db: Path, topic: str) -> list[dict[str, Any]]:
    return [r for r in runs(db, topic, "ok") if r["trigger"] == "schedule"]


def status(db: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "topicwatch", "status", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def pool_config(tmp_path: Path, db: Path, entries: list[dict[str, Any]], **top: Any) -> Path:
    top.setdefault("crawl_workers", 2)
    top.setdefault("per_site", 2)  # these tests run two topics of the one local site at once
    return write_config(
        tmp_path / "tw.toml",
        db,
        entries,
        defaults={"every": "1s"},
        alerts={"after": 100},
        settings={"TOPICWATCH_ENRICH": "false"},
        **top,
    )


def test_the_pool_runs_every_topic_on_schedule_without_a_crawl_process(site, db, tmp_path):
    config = pool_config(tmp_path, db, topics(site, "nato", "uk", "fr"))
    with Daemon(config) as daemon:
        for tag in ("nato", "uk", "fr"):
            wait_until(
                lambda t=tag: len(scheduled_ok(db, t)) >= 3, DEADLINE, f"3 scheduled {tag} runs"
            )
        # Status shows the pool as of the latest heartbeat (1 s in these tests).
        shown = wait_until(
            lambda: [w for w in json.loads(status(db, "--json"))["workers"] if w["runs_done"]],
            DEADLINE,
            "workers with runs in status",
        )
        text = status(db)
        assert daemon.stop(timeout=60) == 0, daemon.output
    assert 1 <= len(shown) <= 2
    assert all(f"crawl worker pid {w['pid']}: up" in text for w in shown)
    # Each worker's memory as read at the heartbeat: a Scrapy process holds tens of MiB.
    assert all(20 < w["rss_mb"] < 1024 for w in shown), shown
    assert " MiB" in text
    assert json.loads(status(db, "--json"))["workers"] == []  # gone with the daemon
    done = runs(db)
    assert len(done) >= 9
    assert {r["status"] for r in done} == {"ok"}
    assert {r["trigger"] for r in done} == {"schedule"}
    # Every run was a worker's: at most two pids across all of them, none the daemon's,
    # so no crawl child was started (each would have its own pid).
    pids = {r["pid"] for r in done}
    assert len(pids) <= 2 and daemon.pid not in pids
    assert all(f"crawl worker pid {pid} started" in daemon.output for pid in pids)
    assert not any(pid_alive(pid) for pid in pids)  # the workers ended with the daemon
    assert runs(db, status="running") == [], (runs(db), daemon.output)


def test_a_worker_killed_mid_crawl_fails_its_run_and_is_replaced(site, db, tmp_path):
    config = pool_config(tmp_path, db, topics(site, "nato"))
    site.hold(NATO)
    with Daemon(config) as daemon:
        (held,) = wait_until(lambda: runs(db, "nato", "running"), DEADLINE, "a run in flight")
        os.kill(held["pid"], signal.SIGKILL)
        daemon.wait_for_output(f"crawl worker pid {held['pid']} ended (killed by SIGKILL", 60)
        site.release()
        later = wait_until(
            lambda: [r for r in scheduled_ok(db, "nato") if r["id"] > held["id"]],
            DEADLINE,
            "an ok run after the kill",
        )
        assert daemon.stop(timeout=60) == 0, daemon.output
    killed = next(r for r in runs(db, "nato") if r["id"] == held["id"])
    assert (killed["status"], killed["reason"]) == ("failed", "crash")
    assert f"crawl worker pid {held['pid']} ended" in killed["error"]
    assert later[0]["pid"] != held["pid"]
    assert runs(db, status="running") == [], (runs(db), daemon.output)


def test_a_hanging_topic_times_out_without_holding_the_other(site, db, tmp_path):
    entries = [*topics(site, "nato", timeout="3s"), *topics(site, "uk")]
    config = pool_config(tmp_path, db, entries)
    site.hold(NATO)
    with Daemon(config) as daemon:
        (held,) = wait_until(lambda: runs(db, "nato", "running"), DEADLINE, "nato in flight")
        # While nato hangs on one worker, uk's checks go to the other (fewest in flight).
        try:
            wait_until(
                lambda: len([r for r in scheduled_ok(db, "uk") if r["id"] > held["id"]]) >= 2,
                DEADLINE,
                "uk runs while nato hangs",
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n{runs(db)}\n{daemon.output}") from None
        wait_until(lambda: runs(db, "nato", "failed"), DEADLINE, "nato's timed-out run")
        site.release()
        assert daemon.stop(timeout=60) == 0, daemon.output
    timed_out = {r["id"]: r for r in runs(db)}.get(held["id"])
    assert timed_out is not None and timed_out["topic"] == "nato", (held, runs(db), daemon.output)
    assert (timed_out["status"], timed_out["reason"]) == ("failed", "timeout")
    assert runs(db, status="running") == [], (runs(db), daemon.output)


def test_a_worker_that_stops_answering_is_killed_and_replaced(site, db, tmp_path):
    """The last resort: a worker that cannot enforce the run's timeout itself (here it is
    stopped, SIGSTOP) is SIGKILLed once the order is unanswered for its timeout plus the
    pool's margin; the run is recorded failed/timeout, a new worker runs the topic."""
    # SIGSTOP comes well within the 4 s, before the worker could time the run out itself.
    config = pool_config(tmp_path, db, topics(site, "nato", timeout="4s"), crawl_workers=1)
    site.hold(NATO)
    with Daemon(config) as daemon:
        (held,) = wait_until(lambda: runs(db, "nato", "running"), DEADLINE, "a run in flight")
        os.kill(held["pid"], signal.SIGSTOP)
        try:
            daemon.wait_for_output(
                f"crawl worker pid {held['pid']} did not answer order", ANSWER_MARGIN + 60
            )
            daemon.wait_for_output(f"crawl worker pid {held['pid']} ended (killed by SIGKILL", 60)
        finally:
            with contextlib.suppress(ProcessLookupError):  # it is, unless the pool failed
                os.kill(held["pid"], signal.SIGKILL)
        site.release()
        later = wait_until(
            lambda: [r for r in scheduled_ok(db, "nato") if r["id"] > held["id"]],
            DEADLINE,
            "an ok run on a new worker",
        )
        assert daemon.stop(timeout=60) == 0, daemon.output
    killed = next(r for r in runs(db, "nato") if r["id"] == held["id"])
    assert (killed["status"], killed["reason"]) == ("failed", "timeout"), killed
    assert f"crawl worker pid {held['pid']} was killed" in killed["error"]
    assert later[0]["pid"] != held["pid"]
    assert runs(db, status="running") == [], (runs(db), daemon.output)


def test_sigterm_stops_the_daemon_and_its_workers_within_the_grace(site, db, tmp_path):
    config = pool_config(tmp_path, db, topics(site, "nato", "uk"), shutdown_grace="1s")
    site.hold(NATO)
    with Daemon(config) as daemon:
        (held,) = wait_until(lambda: runs(db, "nato", "running"), DEADLINE, "nato in flight")
        wait_until(lambda: scheduled_ok(db, "uk"), DEADLINE, "a uk run")
        workers = {r["pid"] for r in runs(db)}
        started = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0, daemon.output
        took = time.monotonic() - started
    site.release()
    assert took < 1 + 15, daemon.output  # the grace, SIGTERM's 5 s and a loaded machine
    stopped = next(r for r in runs(db, "nato") if r["id"] == held["id"])
    assert (stopped["status"], stopped["reason"]) == ("aborted", "shutdown")
    assert runs(db, status="running") == [], (runs(db), daemon.output)
    assert not any(pid_alive(pid) for pid in workers)


def test_a_recycling_worker_is_replaced_without_losing_a_run(site, db, tmp_path):
    config = write_config(
        tmp_path / "tw.toml",
        db,
        topics(site, "nato"),
        defaults={"every": "1s"},
        settings={"TOPICWATCH_ENRICH": "false", "TOPICWATCH_WORKER_MAX_RUNS": "2"},
        crawl_workers=1,
    )
    with Daemon(config) as daemon:
        wait_until(lambda: len(scheduled_ok(db, "nato")) >= 5, DEADLINE, "5 scheduled runs")
        assert daemon.stop(timeout=60) == 0, daemon.output
    done = runs(db)
    assert {r["status"] for r in done} == {"ok"}
    assert len({r["pid"] for r in done}) >= 2  # a worker ran at most two runs
    assert "recycles after 2 run(s)" in daemon.output


def test_workers_that_die_at_start_are_restarted_ever_more_slowly(site, db, tmp_path):
    """A setting that passes the daemon's checks but kills every worker as Scrapy starts
    (here a log file in a missing folder): the pool must not restart workers in a loop
    burning a core. From the second death in a row each start waits twice as long, the
    log says why once per death, and checks fail with that reason instead of queueing."""
    config = write_config(
        tmp_path / "tw.toml",
        db,
        topics(site, "nato"),
        defaults={"every": "1s"},
        settings={"TOPICWATCH_ENRICH": "false", "LOG_FILE": str(tmp_path / "missing" / "w.log")},
        crawl_workers=2,
    )
    with Daemon(config) as daemon:
        daemon.wait_for_output("in a row; next start in 1s", DEADLINE)
        starts_then = daemon.output.count(" started (")
        daemon.wait_for_output("in a row; next start in 8s", DEADLINE)
        # 1 s + 2 s + 4 s of waiting: at most one start per wait per worker slot.
        assert daemon.output.count(" started (") - starts_then <= 6, daemon.output
        lines = daemon.output.splitlines()
        assert daemon.stop(timeout=60) == 0, daemon.output
    workers = [int(line.split("pid ")[1].split()[0]) for line in lines if " started (" in line]
    assert not any(pid_alive(pid) for pid in workers)
    assert any(
        "crawl workers die at start (exit status 1: FileNotFoundError" in line for line in lines
    ), daemon.output
    ended = [line for line in lines if "ended (exit status 1" in line]
    assert ended and all("FileNotFoundError" in line for line in ended), daemon.output
    assert runs(db, status="running") == [], (runs(db), daemon.output)
    failed = runs(db)
    outcomes = [(r["status"], r["error"]) for r in failed]
    odd = [o for o in outcomes if o[0] != "failed" or "FileNotFoundError" not in (o[1] or "")]
    assert not odd, odd


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_an_archive_deleted_or_replaced_under_the_daemon_stops_it(site, db, tmp_path, how):
    """The daemon and its warm workers keep connections on the file they opened: after it
    is deleted or replaced (a restore from backup), their writes would go to a file no one
    sees, and the daemon would record each outcome as a false crash in a new, empty
    archive. It stops instead, with one line saying why and exit status 2, and writes
    nothing to whatever is at the path now."""
    config = pool_config(tmp_path, db, topics(site, "nato", "uk"))
    with Daemon(config) as daemon:
        wait_until(lambda: len(runs(db, status="ok")) >= 4, DEADLINE, "4 ok runs")
        workers = {r["pid"] for r in runs(db)}
        kept: list[tuple[Any, ...]] = []
        if how == "deleted":
            for path in db.parent.glob(db.name + "*"):
                if path.is_file():
                    path.unlink()
        else:
            copy = db.with_name("copy.db")
            with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
                source.backup(target)
            source.close()
            target.close()
            kept = rows(copy, "select * from crawl_runs order by id")
            copy.replace(db)
        assert daemon.wait(timeout=60) == 2, daemon.output
    assert f"archive: {db} was deleted or replaced while the daemon ran: stopping" in (
        daemon.output
    )
    assert not any(pid_alive(pid) for pid in workers)
    if how == "deleted":
        assert not db.exists(), "an empty archive was made in its place"
    else:
        assert rows(db, "select * from crawl_runs order by id") == kept


def test_bytes_that_are_not_utf8_on_a_workers_stderr_do_not_wedge_it(site, db, tmp_path):
    """A native library in the worker writes raw bytes to fd 2 (or fd 1, which points
    there): the daemon's reader of the worker's log must read on, or the worker blocks on
    its next log line once the pipe is full and every run on it hangs. Scrapy logs at
    DEBUG here, so a pipe left unread fills within the first run."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if 'topicwatch.crawler.worker' in sys.orig_argv:\n"
        "    os.write(2, b'a native library says \\xff\\xfe\\n' + b'no newline ' * 2000)\n",
        encoding="utf-8",
    )
    config = write_config(
        tmp_path / "tw.toml",
        db,
        topics(site, "nato"),
        defaults={"every": "1s"},
        settings={"TOPICWATCH_ENRICH": "false", "LOG_LEVEL": "DEBUG"},
        crawl_workers=1,
    )
    env = {"PYTHONPATH": os.pathsep.join([str(hooks), child_env().get("PYTHONPATH", "")])}
    with Daemon(config, env=env) as daemon:
        wait_until(lambda: len(scheduled_ok(db, "nato")) >= 3, DEADLINE, "3 scheduled runs")
        assert daemon.stop(timeout=60) == 0, daemon.output
    assert "Traceback" not in daemon.output, daemon.output
    assert {r["status"] for r in runs(db)} == {"ok"}, runs(db)


def test_a_second_signal_stops_workers_at_once_without_calling_them_broken(site, db, tmp_path):
    """SIGINT twice (an impatient Ctrl-C) with a run held in flight: the workers are
    signalled at once, the run is on record aborted, no worker is left, exit status 0,
    and workers the pool itself stopped are not taken for workers dying at start (neither
    has answered anything: one is idle, the other's download outlasts SIGTERM's 5 s)."""
    config = write_config(
        tmp_path / "tw.toml",
        db,
        topics(site, "nato"),
        defaults={"every": "1s"},
        settings={"TOPICWATCH_ENRICH": "false", "DOWNLOAD_TIMEOUT": "120"},
        crawl_workers=2,
        shutdown_grace="60s",
    )
    site.hold(NATO)
    with Daemon(config) as daemon:
        (held,) = wait_until(lambda: runs(db, "nato", "running"), DEADLINE, "nato in flight")
        daemon.process.send_signal(signal.SIGINT)
        daemon.wait_for_output("stopping: waiting up to 60s", 60)
        daemon.process.send_signal(signal.SIGINT)
        assert daemon.wait(timeout=60) == 0, daemon.output
    site.release()
    workers = [
        int(line.split("pid ")[1].split()[0]) for line in daemon.lines if " started (" in line
    ]
    assert not any(pid_alive(pid) for pid in workers)
    stopped = next(r for r in runs(db, "nato") if r["id"] == held["id"])
    assert (stopped["status"], stopped["reason"]) == ("aborted", "shutdown"), stopped
    assert "die at start" not in daemon.output, daemon.output
