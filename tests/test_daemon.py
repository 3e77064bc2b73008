"""The daemon end to end: a real ``topicwatch daemon`` process against the local fixture site.

Intervals are 1 s; every wait polls the archive or the daemon's log against a deadline.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import TEST_SETTINGS, child_env, run_crawl, scalar
from daemon_helpers import (
    Daemon,
    GatedSite,
    StartGate,
    WebhookReceiver,
    query,
    runs,
    wait_until,
    write_config,
)
from fixture_site import make_articles

from topicwatch.archive.lock import lock_path


@pytest.fixture
def gated() -> Iterator[GatedSite]:
    with GatedSite() as running:
        yield running


def ok_schedule_runs(db: Path, topic: str) -> list[dict]:
    return [r for r in runs(db, topic, "ok") if r["trigger"] == "schedule"]


def status(db: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "topicwatch", "status", "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def crawl_process(url: str, db: Path, *args: str) -> subprocess.Popen[str]:
    """A manual ``topicwatch crawl`` left running, to watch it wait for the topic's lock."""
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", url, "--db", str(db)]
    for name, value in TEST_SETTINGS.items():
        command += ["-s", f"{name}={value}"]
    return subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux /proc): it is waiting on that lock."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(path.resolve()) for fd in fds.iterdir())
    except OSError:
        return False


def no_overlap(topic_runs: list[dict]) -> bool:
    return all(b["started"] >= a["finished"] for a, b in itertools.pairwise(topic_runs))


def test_runs_on_schedule_without_overlap_and_reports_status(site, db, tmp_path):
    site.set_listing("uk", make_articles(5, start=100))
    config = write_config(
        tmp_path / "tw.toml",
        db,
        [{"name": "nato", "url": site.topic_url()}, {"name": "uk", "url": site.topic_url("uk")}],
        defaults={"every": "1s"},
    )
    with Daemon(config) as daemon:
        for topic in ("nato", "uk"):
            wait_until(lambda t=topic: len(ok_schedule_runs(db, t)) >= 3, what=f"3 {topic} runs")
        second = Daemon(config)
        assert second.wait() == 75
        assert "another topicwatch daemon" in second.output
        report = status(db)
        assert daemon.stop() == 0
    assert report["alive"] is True
    assert report["daemon"]["pid"] == daemon.pid
    by_name = {topic["name"]: topic for topic in report["topics"]}
    for name in ("nato", "uk"):
        assert by_name[name]["schedule"] == "every 1s"
        assert by_name[name]["next_run_at"] is not None
        assert by_name[name]["consecutive_failures"] == 0
        assert by_name[name]["last_run"]["status"] == "ok"
        assert no_overlap(runs(db, name))
    assert runs(db, status="running") == []
    line = (
        r"INFO nato: ok run \d+: 1 pages, 20 seen, 20 new, 0 edited, 0 vanished"
        r"(; \d+ article pages read, \d+ pending)? in \d+\.\ds"
    )
    assert re.search(line, daemon.output)
    after = status(db)
    assert after["alive"] is False and after["daemon"]["stopped_at"] is not None


def test_catch_up_runs_overdue_topics_at_once_and_waits_for_fresh_ones(site, db, tmp_path):
    site.set_listing("fresh", make_articles(3, start=200))
    site.set_listing("stale", make_articles(3, start=300))
    site.set_listing("new", make_articles(3, start=400))
    for tag in ("fresh", "stale"):
        assert run_crawl(site.topic_url(tag), db, "--topic", tag).returncode == 0
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE crawl_runs SET started_at = ? WHERE topic = 'stale'", [two_hours_ago])
    topics = [{"name": tag, "url": site.topic_url(tag)} for tag in ("fresh", "stale", "new")]
    config = write_config(tmp_path / "tw.toml", db, topics, defaults={"every": "1h"})
    with Daemon(config, "--log-json") as daemon:
        for tag in ("stale", "new"):
            wait_until(lambda t=tag: ok_schedule_runs(db, t), what=f"catch-up run of {tag}")
        next_fresh = wait_until(
            lambda: query(
                db,
                "SELECT d.next_run_at FROM daemon_topics d JOIN topics t ON t.id = d.topic_id"
                " WHERE t.name = 'fresh'",
            )
        )[0][0]
        assert daemon.stop() == 0
    assert ok_schedule_runs(db, "fresh") == []
    fresh_ok = datetime.fromisoformat(runs(db, "fresh", "ok")[0]["started"])
    due = datetime.fromisoformat(next_fresh)
    assert abs((due - (fresh_ok + timedelta(hours=1))).total_seconds()) < 2
    records = [json.loads(line) for line in daemon.lines]
    run_records = [r for r in records if r.get("event") == "run"]
    assert {r["topic"] for r in run_records} == {"stale", "new"}
    assert all(
        r["status"] == "ok" and r["items_new"] == 0 for r in run_records if r["topic"] == "stale"
    )


def test_sigterm_waits_for_a_running_crawl_within_the_grace(gated, db, tmp_path):
    config = write_config(
        tmp_path / "tw.toml", db, [{"url": gated.topic_url()}], defaults={"every": "1h"}
    )
    gated.gate.clear()
    with Daemon(config) as daemon:
        wait_until(lambda: runs(db, status="running"), what="a crawl in flight")
        daemon.process.send_signal(signal.SIGTERM)
        daemon.wait_for_output("stopping: waiting up to 30s for 1 crawl(s)")
        gated.gate.set()
        assert daemon.wait() == 0, daemon.output
    assert [r["status"] for r in runs(db)] == ["ok"]


def test_sigterm_after_the_grace_aborts_the_crawl_and_exits_0(gated, db, tmp_path):
    config = write_config(
        tmp_path / "tw.toml",
        db,
        [{"url": gated.topic_url()}],
        defaults={"every": "1h"},
        crawl_workers=0,
        shutdown_grace="0.2s",
    )
    gated.gate.clear()
    with Daemon(config) as daemon:
        wait_until(lambda: runs(db, status="running"), what="a crawl in flight")
        assert daemon.stop() == 0
    (run,) = runs(db)
    assert (run["status"], run["reason"]) == ("aborted", "shutdown")
    assert "stopping crawl(s)" in daemon.output


def test_a_crawl_over_its_timeout_is_killed_and_failed(gated, db, tmp_path):
    config = write_config(
        tmp_path / "tw.toml",
        db,
        [{"url": gated.topic_url(), "timeout": "1s"}],
        defaults={"every": "1h"},
        crawl_workers=0,
    )
    gated.gate.clear()
    with Daemon(config) as daemon:
        daemon.wait_for_output("ran over its 1s timeout: SIGTERM")
        gated.gate.set()  # the crawl can now close and record itself as stopped
        wait_until(lambda: runs(db, status="failed"), what="the timed-out run")
        assert daemon.stop() == 0
    (run,) = runs(db)
    assert (run["status"], run["reason"]) == ("failed", "timeout")
    assert "timeout" in run["error"]
    assert scalar(db, "SELECT count(*) FROM daemon_events WHERE kind = 'timeout'") == 1
    assert scalar(db, "SELECT consecutive_failures FROM daemon_topics") == 1


def test_a_crawl_killed_by_its_timeout_before_it_registers_is_on_record(gated, db, tmp_path):
    gate = StartGate(tmp_path / "start-gate")
    config = write_config(
        tmp_path / "tw.toml",
        db,
        [{"url": gated.topic_url(), "timeout": "1s"}],
        defaults={"every": "1h"},
        crawl_workers=0,
    )
    with Daemon(config, env=gate.env) as daemon:
        daemon.wait_for_output("ran over its 1s timeout: SIGTERM")
        (run,) = wait_until(lambda: runs(db, status="failed"), what="the timed-out run")
        assert daemon.stop() == 0
    assert (run["status"], run["reason"], run["trigger"]) == ("failed", "timeout", "schedule")
    assert run["error"] == "killed after the 1s timeout"
    assert run["finished"] is not None
    assert scalar(db, "SELECT count(*) FROM crawl_runs") == 1
    assert scalar(db, "SELECT consecutive_failures FROM daemon_topics") == 1


def test_a_crawl_that_dies_before_it_registers_is_on_record(gated, db, tmp_path):
    gate = StartGate(tmp_path / "start-gate")
    config = write_config(
        tmp_path / "tw.toml",
        db,
        [{"url": gated.topic_url()}],
        defaults={"every": "1h"},
        crawl_workers=0,
    )
    with Daemon(config, env=gate.env) as daemon:
        wait_until(lambda: _waiting_crawl_pid(gate), what="a crawl child at the start gate")
        os.kill(_waiting_crawl_pid(gate), signal.SIGKILL)
        (run,) = wait_until(lambda: runs(db, status="failed"), what="the dead crawl's run")
        assert daemon.stop() == 0
    assert (run["status"], run["reason"]) == ("failed", "crash")
    assert "killed by SIGKILL" in run["error"]


def _waiting_crawl_pid(gate: StartGate) -> int | None:
    """The pid of a crawl child blocked at the gate (its environment names the FIFO)."""
    for proc in Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if f"TW_START_GATE={gate.fifo}".encode() in environ and b"crawl" in cmdline.split(b"\0"):
            return int(proc.name)
    return None


def test_sigkill_then_restart_marks_the_leftover_run_aborted(gated, db, tmp_path):
    config = write_config(
        tmp_path / "tw.toml", db, [{"url": gated.topic_url()}], defaults={"every": "1h"}
    )
    gated.gate.clear()
    with Daemon(config) as daemon:
        (running,) = wait_until(lambda: runs(db, status="running"), what="a crawl in flight")
        daemon.kill()
        # The crawl child has its own session; a power cut or an OOM kill takes it too.
        subprocess.run(["kill", "-KILL", str(running["pid"])], check=True)
    gated.gate.set()
    with Daemon(config) as daemon:
        wait_until(lambda: runs(db, status="ok"), what="the catch-up run after restart")
        assert daemon.stop() == 0
    first, second = runs(db)
    assert (first["status"], first["reason"]) == ("aborted", "crash")
    assert second["status"] == "ok"
    assert "marked 1 leftover running run(s) aborted" in daemon.output


def test_a_manual_crawl_of_a_topic_being_crawled_is_busy_or_waits(gated, db, tmp_path):
    config = write_config(
        tmp_path / "tw.toml", db, [{"url": gated.topic_url()}], defaults={"every": "1h"}
    )
    gated.gate.clear()
    with Daemon(config) as daemon:
        wait_until(lambda: runs(db, status="running"), what="the daemon's crawl in flight")
        busy = run_crawl(gated.topic_url(), db)
        assert busy.returncode == 75
        assert "busy" in busy.stderr
        waiting = crawl_process(gated.topic_url(), db, "--wait", "30")
        lock = lock_path(db, gated.topic_url())
        wait_until(lambda: has_open(waiting.pid, lock), what="the manual crawl waiting")
        gated.gate.set()
        _, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err
        assert daemon.stop() == 0
    daemon_run, manual_run = runs(db)
    assert (daemon_run["trigger"], manual_run["trigger"]) == ("schedule", "manual")
    assert manual_run["started"] >= daemon_run["finished"]


def test_failures_back_off_alert_once_per_transition_and_recover(site, db, tmp_path):
    listing = "/articles/tag/nato/"
    site.fail(listing, 500)
    alerts_file = tmp_path / "alerts.jsonl"
    append = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read() + '\\n')"
    with WebhookReceiver() as receiver:
        config = write_config(
            tmp_path / "tw.toml",
            db,
            [{"name": "nato", "url": site.topic_url()}],
            defaults={"every": "1s"},
            settings={"RETRY_TIMES": "0"},
            alerts={
                "after": 3,
                "webhook": receiver.url + "?token=SECRET",
                "command": [sys.executable, "-c", append, str(alerts_file)],
            },
            backoff_max="3s",
        )
        with Daemon(config) as daemon:
            wait_until(lambda: receiver.events() == ["failing"], what="the failing alert")
            site.clear_overrides()
            wait_until(lambda: receiver.events() == ["failing", "recovered"], what="recovery")
            assert daemon.stop() == 0
        failed = runs(db, "nato", "failed")
        assert len(failed) == 3
        starts = [datetime.fromisoformat(r["started"]) for r in failed]
        assert (starts[2] - starts[1]).total_seconds() >= 2  # backed off: 1 s, then 2 s
        assert "3 consecutive failure(s), next attempt (backing off)" in daemon.output
        assert "ERROR nato: alert failing" in daemon.output
        assert "INFO nato: alert recovered" in daemon.output  # good news is not a warning
        path, body = receiver.received[0]
        assert path == "/hook?token=SECRET"
        assert (body["topic"], body["consecutive_failures"]) == ("nato", 3)
        assert "http" in body["error"] or "500" in body["error"]
        commands = [json.loads(line)["event"] for line in alerts_file.read_text().splitlines()]
        assert commands == ["failing", "recovered"]
        # A restart sends nothing again: the outbox remembers what was delivered.
        with Daemon(config) as again:
            ran = len(runs(db, "nato", "ok"))
            wait_until(lambda: len(runs(db, "nato", "ok")) > ran, what="a run after restart")
            assert again.stop() == 0
        assert receiver.events() == ["failing", "recovered"]
    for output in (daemon.output, again.output, json.dumps(status(db))):
        assert "SECRET" not in output
    assert "webhook http://127.0.0.1:" in daemon.output


def test_bad_config_exits_2_naming_the_key_before_starting(tmp_path):
    config = tmp_path / "tw.toml"
    config.write_text('db = "a.db"\n[defaults]\nevery = "5 minutes"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "--config", str(config)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == 2
    assert "defaults.every" in done.stderr
    assert not (tmp_path / "a.db").exists()


def test_the_daemon_never_imports_scrapy():
    # Nor the extraction stack: the daemon lives for months, crawl children come and go.
    probe = (
        "import sys, scheduler; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('scrapy', 'twisted', 'lxml', 'bs4', 'parsel')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=child_env(), timeout=60
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_sigterm_while_another_writer_holds_the_archive_stops_promptly(gated, db, tmp_path):
    """The stop's last records wait a second for the archive, not the 30 s busy timeout
    per write: SIGTERM ends the daemon within its grace plus a few seconds, always."""
    config = write_config(
        tmp_path / "tw.toml", db, [{"url": gated.topic_url()}], defaults={"every": "1h"}
    )
    with Daemon(config) as daemon:
        wait_until(lambda: runs(db, status="ok"), what="the first run")
        writer = sqlite3.connect(db, timeout=60, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # another writer, holding the archive
            daemon.process.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=25) == 0
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    assert "could not record the stop (database is locked)" in daemon.output
