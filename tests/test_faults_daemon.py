"""The fault matrix, daemon: a real ``topicwatch daemon`` against servers that hang it.

Sites and webhooks that drip (a status line, then one header byte every 0.2 s, for ever:
no socket read ever times out) must cost a topic at most its timeout, never a concurrency
slot, the heartbeat or the alerts of other topics, and never stop SIGTERM from working.
Every wait polls the archive or the daemon's log against a deadline.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import child_env, run_crawl, scalar
from daemon_helpers import Daemon, WebhookReceiver, query, runs, wait_until, write_config
from fault_checks import TOPIC_PATH
from fault_matrix import row
from fault_matrix import rows as matrix_rows
from fault_site import DRIP, FaultSite, Witness
from fixture_site import make_articles

from topicwatch.daemon.hooks import ENV_CHARS, HookError, run_command
from topicwatch.daemon.http_fetch import FetchError, fetch

P = TOPIC_PATH
NOWHERE = "http://127.0.0.1:9/articles/tag/nato/"  # never reached: the daemon stops first
HOOK = "/hooks/S3CRETPATH"
COVERED: set[str] = set()


def covers(fault_id: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    row(fault_id)
    COVERED.add(fault_id)
    return lambda test: test


def test_every_row_is_covered():
    assert {fault.id for fault in matrix_rows("daemon")} == COVERED


@pytest.fixture
def site() -> Iterator[FaultSite]:
    with FaultSite() as running:
        running.conditional = True  # the worker's conditional GET needs validators
        running.set_listing("uk", make_articles(20, start=300))
        running.set_listing("fr", make_articles(20, start=600))
        yield running


def crawled(site: FaultSite, db: Path, *tags: str) -> None:
    """One manual crawl per tag: the archive then holds each page's validators."""
    for tag in tags:
        assert run_crawl(site.topic_url(tag), db, "--topic", tag).run["status"] == "ok"


def topics(site: FaultSite, *tags: str, **keys: Any) -> list[dict[str, Any]]:
    return [{"name": tag, "url": site.topic_url(tag), **keys} for tag in tags]


def scheduled(db: Path, topic: str, status: str | None = None) -> list[dict[str, Any]]:
    return [r for r in runs(db, topic, status) if r["trigger"] == "schedule"]


def status_of(db: Path, *flags: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "topicwatch", "status", "--db", str(db), *flags],
        capture_output=True, text=True, env=child_env(), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def last_beat(db: Path) -> str:
    beat = query(db, "SELECT last_beat_at FROM daemon_heartbeat")
    return beat[0][0] if beat else ""


def check_run(fault_id: str, run: dict[str, Any]) -> None:
    fault = row(fault_id)
    assert f"{run['status']}/{run['reason']}" == fault.run, run
    assert fault.error in run["error"], run


# --------------------------------------------------------------------------- a dripping 304


@covers("check-drip")
def test_dripping_304s_cost_their_topics_the_download_timeout_not_the_slots(site, db, tmp_path):
    crawled(site, db, "nato", "uk")
    for tag in ("nato", "uk"):
        site.deliver(f"/articles/tag/{tag}/", DRIP)
    config = write_config(
        tmp_path / "tw.toml", db, topics(site, "nato", "uk", "fr", timeout="30s"),
        defaults={"every": "1s"}, concurrency=2, per_site=3,
        settings={"DOWNLOAD_TIMEOUT": "1", "RETRY_TIMES": "0"},
    )  # fmt: skip
    with Daemon(config) as daemon:
        wait_until(lambda: len(scheduled(db, "fr", "ok")) >= 2, 60, "two fr runs meanwhile")
        failed = wait_until(lambda: scheduled(db, "nato", "failed"), 60, "a nato run recorded")
        wait_until(lambda: scheduled(db, "uk", "failed"), 60, "a uk run recorded")
        assert daemon.stop() == 0
    check_run("check-drip", failed[0])
    assert site.hangups(P)  # the crawl let go of the dripping server


@covers("check-drip-timeout")
def test_a_dripping_304_ends_at_the_topics_timeout(site, db, tmp_path):
    crawled(site, db, "nato")
    site.deliver(P, DRIP)
    config = write_config(
        tmp_path / "tw.toml", db,
        [*topics(site, "nato", timeout="2s"), *topics(site, "fr")],
        defaults={"every": "1s"}, concurrency=1, per_site=2,
        settings={"DOWNLOAD_TIMEOUT": "30"}, shutdown_grace="1s",  # nato drips at the stop
    )  # fmt: skip
    with Daemon(config) as daemon:
        failed = wait_until(lambda: scheduled(db, "nato", "failed"), 60, "the timed-out check")
        wait_until(lambda: len(scheduled(db, "fr", "ok")) >= 2, 60, "fr runs in the one slot")
        assert daemon.stop() == 0
    check_run("check-drip-timeout", failed[0])
    run = failed[0]
    took = scalar(db, "SELECT julianday(finished_at) - julianday(started_at) FROM crawl_runs"
                  " WHERE id = ?", (run["id"],)) * 86400  # fmt: skip
    assert took < 10


@covers("check-drip-sigterm")
def test_sigterm_stops_the_daemon_while_a_304_drips(site, db, tmp_path):
    crawled(site, db, "nato")
    site.deliver(P, DRIP)
    config = write_config(
        tmp_path / "tw.toml", db, topics(site, "nato", timeout="60s"),
        defaults={"every": "1s"}, settings={"DOWNLOAD_TIMEOUT": "60"}, shutdown_grace="1s",
    )  # fmt: skip
    with Daemon(config) as daemon:
        wait_until(lambda: scheduled(db, "nato", "running"), 60, "the check dripping")
        started = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == int(row("check-drip-sigterm").exit.split()[0])
        took = time.monotonic() - started
    assert took < 1 + 8, took  # shutdown_grace plus a few seconds
    (stopped,) = scheduled(db, "nato")
    assert f"{stopped['status']}/{stopped['reason']}" == row("check-drip-sigterm").run
    wait_until(lambda: site.hangups(P), 10, "the socket shut")


class EndlessHeaders:
    """A raw server on 127.0.0.1 whose one answer never ends its header block: long header
    lines, or ``100 Continue`` answers one after another, as fast as they are read."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/articles/tag/nato/"
        self.sent = 0
        self.dropped = threading.Event()  # the client closed the connection
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.recv(65536)
            if self.kind == "header-lines":
                conn.sendall(b"HTTP/1.1 304 Not Modified\r\n")
            chunk = {
                "header-lines": b"X-Pad: " + b"b" * 60_000 + b"\r\n",
                "continue": b"HTTP/1.1 100 Continue\r\nX-Pad: " + b"a" * 4000 + b"\r\n\r\n",
            }[self.kind]
            try:
                while True:
                    conn.sendall(chunk)
                    self.sent += len(chunk)
            except OSError:
                self.dropped.set()

    def close(self) -> None:
        self.server.close()


@covers("webhook-endless-headers")
@pytest.mark.parametrize("kind", ["header-lines", "continue"])
def test_a_header_block_without_end_is_given_up_at_the_header_cap(kind):
    """The daemon's own requests (webhooks) go through ``fetch``: it stops reading a
    header block at ``MAX_HEADER_BYTES`` in all, long before the deadline, and lets go of
    the connection."""
    server = EndlessHeaders(kind)
    started = time.monotonic()
    try:
        with pytest.raises(FetchError) as caught:
            fetch(server.url, headers={}, timeout=60, what="the webhook")
        took = time.monotonic() - started
        assert server.dropped.wait(30), "the client never let go"
    finally:
        server.close()
    assert row("webhook-endless-headers").error in str(caught.value)
    assert took < 30, took  # the cap, not the 60 s deadline, ended it
    assert server.sent < 64 * 1024 * 1024  # socket buffers, not an unbounded read


class EarlyGate:
    """Holds the daemon at a chosen moment of its start-up: while its settings check child
    starts (``check``), or as the daemon imports a module (the scheduler's). A
    ``sitecustomize`` module marks the moment with a file, then opens a FIFO nobody
    writes: the process waits there until the test has signalled it."""

    SITE = (
        "import os, sys\n"
        "AT, MARK = os.environ.get('TW_EARLY_AT'), os.environ.get('TW_EARLY_MARK', '')\n"
        "def hold():\n"
        "    open(MARK, 'w').close()\n"
        "    open(MARK + '.fifo').close()\n"
        "if AT == 'check' and 'topicwatch.crawler.check_settings' in sys.orig_argv:\n"
        "    hold()\n"
        "elif AT and AT != 'check' and 'daemon' in sys.orig_argv:\n"
        "    held = []\n"
        "    def hook(event, args):\n"
        "        if event == 'import' and args[0] == AT and not held:\n"
        "            held.append(1)\n"
        "            hold()\n"
        "    sys.addaudithook(hook)\n"
    )

    def __init__(self, directory: Path, at: str) -> None:
        directory.mkdir()
        (directory / "sitecustomize.py").write_text(self.SITE, encoding="utf-8")
        self.mark = directory / "held"
        os.mkfifo(f"{self.mark}.fifo")
        self.env = {
            "TW_EARLY_AT": at,
            "TW_EARLY_MARK": str(self.mark),
            "PYTHONPATH": os.pathsep.join([str(directory), child_env()["PYTHONPATH"]]),
        }

    def release(self) -> None:
        """Let go of any process still held (a child orphaned by a killed daemon)."""
        with contextlib.suppress(OSError):  # ENXIO: nobody waits
            os.close(os.open(f"{self.mark}.fifo", os.O_WRONLY | os.O_NONBLOCK))


@covers("signal-at-start")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
@pytest.mark.parametrize("at", ["check", "apscheduler"])
def test_a_signal_during_start_up_stops_the_daemon_cleanly(tmp_path, db, signum, at):
    """SIGTERM was a death by the signal and Ctrl-C a KeyboardInterrupt traceback while
    the daemon checked its settings (a child importing Scrapy: a second or two)."""
    gate = EarlyGate(tmp_path / "gate", at)
    config = write_config(tmp_path / "tw.toml", db, [{"name": "nato", "url": NOWHERE}])
    try:
        with Daemon(config, env=gate.env) as daemon:
            wait_until(gate.mark.exists, 60, f"the daemon held at {at}")
            started = time.monotonic()
            daemon.process.send_signal(signum)
            code = daemon.wait(timeout=30)
    finally:
        gate.release()
    assert code == int(row("signal-at-start").exit.split()[0]), daemon.output
    assert "Traceback" not in daemon.output and "KeyboardInterrupt" not in daemon.output
    assert time.monotonic() - started < 20
    assert not runs(db) and not query(db, "SELECT 1 FROM daemon_heartbeat")


# --------------------------------------------------------------------------- webhooks


@covers("webhook-drip")
def test_a_dripping_webhook_holds_neither_crawls_nor_the_heartbeat(site, db, tmp_path):
    site.fail(P, 503)
    site.deliver(HOOK, DRIP)
    config = write_config(
        tmp_path / "tw.toml", db, topics(site, "nato"), defaults={"every": "1s"},
        settings={"RETRY_TIMES": "0"}, alerts={"after": 1, "webhook": site.base_url + HOOK},
        backoff_max="1s", shutdown_grace="1s",
    )  # fmt: skip
    with Daemon(config) as daemon:
        wait_until(lambda: site.hits(HOOK), 30, "the webhook dripping")
        beat, failed = last_beat(db), len(runs(db, "nato", "failed"))
        wait_until(lambda: last_beat(db) > beat, 10, "a heartbeat while it drips")
        wait_until(lambda: len(runs(db, "nato", "failed")) >= failed + 2, 30, "runs go on")
        text = status_of(db)
        report = json.loads(status_of(db, "--json"))
        started = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        took = time.monotonic() - started
    assert "daemon: running" in text and "(alert sent)" not in text
    assert row("webhook-drip").error in text
    assert report["topics"][0]["alert"]["state"] == "pending"
    assert took < 1 + 8, took
    assert "S3CRETPATH" not in daemon.output + text


@covers("webhook-redirect")
def test_a_webhook_redirect_is_not_followed_and_the_alert_stays_pending(site, db, tmp_path):
    site.fail(P, 503)
    with Witness() as elsewhere:
        site.fail(HOOK, 302, headers={"Location": elsewhere.base_url + "/collect"})
        webhook = site.base_url.replace("http://", "http://alerts:PW@") + HOOK
        config = write_config(
            tmp_path / "tw.toml", db, topics(site, "nato"), defaults={"every": "1s"},
            settings={"RETRY_TIMES": "0"}, alerts={"after": 1, "webhook": webhook},
        )  # fmt: skip
        with Daemon(config) as daemon:
            wait_until(lambda: site.hits(HOOK) >= 2, 30, "a retried delivery")
            alert = query(db, "SELECT state, attempts, last_error FROM daemon_alerts")[0]
            text = status_of(db)
            assert daemon.stop() == 0
        assert not elsewhere.was_contacted()
    state, attempts, error = alert
    assert state in ("pending", "failed") and attempts >= 1
    assert row("webhook-redirect").error in error and "PW" not in error
    assert "(alert sent)" not in text and "answered HTTP 302" in text
    assert {r.method for r in site.requests if r.path == HOOK} == {"POST"}


LOUD = "import sys\nwhile True:\n    sys.{0}.write('x' * 65536)\n"


def peak_memory() -> int:
    """This process's peak resident memory in bytes (VmHWM), from /proc."""
    status = Path("/proc/self/status").read_text(encoding="ascii")
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


@covers("command-hook-floods")
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_command_hook_printing_without_end_costs_no_memory(stream):
    """communicate() kept all a hook printed: ``yes`` grew the daemon 4 GB in 5 s.
    Now stdout is not read and only the tail of stderr is kept, until the timeout."""
    before = peak_memory()
    with pytest.raises(HookError) as caught:
        run_command((sys.executable, "-c", LOUD.format(stream)), {"event": "x"}, timeout=3)
    assert row("command-hook-floods").error in str(caught.value)
    assert peak_memory() - before < 64 * 1024 * 1024


def test_a_command_hook_gets_a_long_text_on_stdin_and_a_cut_one_in_its_environment():
    """A 200,000-character text in TOPICWATCH_TEXT failed exec with E2BIG: no alert."""
    count = (
        "import os, sys\n"
        "sys.exit(f'{len(sys.stdin.read())} {len(os.environ[\"TOPICWATCH_TEXT\"])}')"
    )
    with pytest.raises(HookError) as caught:
        run_command((sys.executable, "-c", count), {"event": "x", "text": "y" * 200_000})
    stdin_chars, env_chars = map(int, str(caught.value).rsplit(": ", 1)[1].split())
    assert stdin_chars > 200_000 and env_chars == ENV_CHARS


# --------------------------------------------------------------------------- the watchdog

STUBBORN = (
    "import os, signal, sys, time\n"
    "if 'crawl' in sys.orig_argv and os.path.exists(os.environ.get('TW_STUBBORN', '')):\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "    time.sleep(600)\n"
)


@covers("stuck-job")
def test_a_job_past_its_timeout_is_reported_stuck_and_alerted(site, db, tmp_path):
    folder = tmp_path / "stubborn"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(STUBBORN, encoding="utf-8")
    marker = tmp_path / "stubborn-on"
    marker.touch()
    env = {
        "TW_STUBBORN": str(marker),
        "PYTHONPATH": os.pathsep.join([str(folder), child_env()["PYTHONPATH"]]),
    }
    with WebhookReceiver() as receiver:
        config = write_config(
            tmp_path / "tw.toml", db, topics(site, "nato", timeout="4s"),
            defaults={"every": "1s"}, alerts={"after": 3, "webhook": receiver.url},
            crawl_workers=0,  # the stubborn crawl is a child process that ignores SIGTERM
        )  # fmt: skip
        with Daemon(config, env=env) as daemon:
            wait_until(lambda: receiver.events() == ["failing"], 30, "the stuck alert")
            marker.unlink()  # the next crawls behave
            wait_until(lambda: receiver.events() == ["failing", "recovered"], 60, "recovery")
            assert daemon.stop() == 0
    (event,) = query(db, "SELECT topic, detail FROM daemon_events WHERE kind = 'stuck'")
    assert event[0] == "nato" and row("stuck-job").error in event[1]
    first = runs(db, "nato")[0]
    assert f"{first['status']}/{first['reason']}" == row("stuck-job").run
    assert "over its 4s timeout (crawl pid" in event[1]
    body = receiver.received[0][1]
    assert "stuck" in body["text"] and body["consecutive_failures"] == 0
    assert "nato: stuck: running for" in daemon.output


# --------------------------------------------------------------------------- timing


def run_starts(daemon: Daemon, topic: str) -> list[tuple[float, dict[str, Any]]]:
    """(start, record) of each run the daemon logged (``--log-json``), start in epoch s."""
    found = []
    for line in list(daemon.lines):
        record = json.loads(line)
        if record.get("event") == "run" and record["topic"] == topic:
            at = datetime.fromisoformat(record["at"]).timestamp()
            found.append((at - record["duration"], record))
    return found


@covers("sigstop")
def test_a_stopped_daemon_records_the_runs_it_missed_and_runs_once(site, db, tmp_path):
    interval = 2.0
    crawled(site, db, "nato")  # runs are 304 checks: short, and timed in the log
    config = write_config(
        tmp_path / "tw.toml", db, topics(site, "nato"), defaults={"every": f"{interval:g}s"}
    )
    with Daemon(config, "--log-json") as daemon:
        _, last = wait_until(lambda: run_starts(daemon, "nato")[1:], 30, "two runs")[-1]
        stopped = time.time()
        os.kill(daemon.pid, signal.SIGSTOP)
        try:
            # Stopped past the next due time, and continued a quarter interval before the
            # one after: nearer that one than the due time it is late for.
            due = datetime.fromisoformat(last["next_run_at"]).timestamp()
            time.sleep(max(due + 0.75 * interval - time.time(), 0))  # the fault itself
        finally:
            os.kill(daemon.pid, signal.SIGCONT)
        resumed = time.time()
        wait_until(lambda: len([s for s, _ in run_starts(daemon, "nato") if s > resumed]) >= 3,
                   30, "three runs after SIGCONT")  # fmt: skip
        assert daemon.stop() == 0
    fault = row("sigstop")
    missed = query(db, "SELECT detail FROM daemon_events WHERE kind = 'missed' AND topic = 'nato'")
    assert missed and fault.error in missed[0][0], missed
    after = [start for start, _ in run_starts(daemon, "nato") if start > stopped]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert gaps and min(gaps) >= interval / 2, gaps
    assert {r["status"] for r in scheduled(db, "nato")} == {fault.run}
