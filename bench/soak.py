"""Daemon soak with warm crawl workers: thousands of scheduled checks, workers recycled and
SIGKILLed on the way; nothing may grow and no run may be lost.

The real daemon (``python -m scheduler``, ``crawl_workers = 2``) checks :data:`TOPICS`
topics on four loopback sites (127.0.0.2–5, static servers without validators, each a
process of its own) every :data:`INTERVAL`, until :data:`CHECKS` runs are on record. After
every :data:`CHANGE_EVERY` runs one topic's listing gains a card (its article read by the
next check), so unchanged and changed checks both run thousands of times. Workers recycle
every :data:`MAX_RUNS` runs (``TOPICWATCH_WORKER_MAX_RUNS``, set in the config).

A fifth site (127.0.0.6) answers its one topic's listing after :data:`SLOW` s, so a run of
it is always in flight: :data:`KILLS` times during the soak the bench SIGKILLs the worker
running it (its ``crawl_runs`` row says which pid) and then checks, from the archive and
the daemon's log, that every order the worker took down is a run recorded failed with its
reason, that no run is left without an outcome, and that the topic's next check started
within its interval (+ :data:`GRACE`) of the killed run's end.

Figures come from /proc: the daemon's RSS and open fds at warm-up (:data:`WARMUP` runs)
and at the end (10 samples over 2 s, see :func:`_sample`);
each worker's VmHWM (its peak RSS) sampled every poll over its life; the open fds of the
daemon and its workers together.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from statistics import quantiles
from typing import Any

from bench.checks import Site, Topic, serve
from bench.children import child_env
from bench.report import Row, log

SITES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
SLOW_SITE = "127.0.0.6"
SLOW = 5.0  # seconds the slow site holds each listing answer
VICTIM = "slow1"  # its topic: a run always in flight, to be killed
GRACE = 2.0  # seconds past the interval the victim's next check may start (timestamps are whole s)
CHANGE_EVERY = 10


@dataclass(frozen=True)
class Size:
    topics: int
    interval: float
    checks: int
    warmup: int
    max_runs: int
    kills: int


FULL = Size(topics=32, interval=2.0, checks=10_000, warmup=300, max_runs=500, kills=5)
QUICK = Size(topics=8, interval=1.0, checks=240, warmup=40, max_runs=40, kills=1)
TOPICS, INTERVAL, CHECKS, WARMUP, MAX_RUNS, KILLS = (
    FULL.topics, FULL.interval, FULL.checks, FULL.warmup, FULL.max_runs, FULL.kills,
)  # fmt: skip

NOTES = f"""\
The real daemon with `crawl_workers = 2` checks {TOPICS} topics on four loopback sites
(static servers without validators, each its own process) every {INTERVAL:g} s, plus one
topic on a fifth site that answers after {SLOW:g} s, until {CHECKS:,} runs are on record.
After every {CHANGE_EVERY} runs one topic gains a card (read with its article by the next
check); the other checks meet an unchanged page. `TOPICWATCH_WORKER_MAX_RUNS = {MAX_RUNS}`
in the config's settings recycles each worker every {MAX_RUNS} runs. {KILLS} times the bench
SIGKILLs the worker running the slow topic's run (pid from its `crawl_runs` row), then
checks that every order lost with it (the daemon's log counts them) is a run recorded
`failed` with its reason, that no run is left `running`, and that the slow topic's next
check started within its interval + {GRACE:g} s of the killed run's end. RSS and fds from
/proc at warm-up ({WARMUP} runs) and at the end, 10 samples over 2 s: RSS the most, fds
the fewest (the floor a leak raises; the most in brackets); a worker's peak is its
VmHWM, sampled every 0.5 s over its life ("first" workers: the two the daemon started
with; "later": all others). The fds of the workers count keep-alive
connections to the sites, so they move by a few with traffic. Checks per second: runs
recorded between warm-up and end over that time, against the {TOPICS / INTERVAL:g} due a
second. The machine's 2 cores were shared with other work (load in the commit message)."""


@dataclass
class Soak:
    """What the bench saw while the daemon ran."""

    # mark -> (monotonic time, runs done, RSS kB, own fds min/max, all fds min/max)
    marks: dict[str, tuple[float, int, int, int, int, int, int]] = field(default_factory=dict)
    peaks: dict[int, int] = field(default_factory=dict)  # worker pid -> VmHWM kB, as seen
    kills: list[tuple[int, int]] = field(default_factory=list)  # (worker pid, run id)
    published: int = 0


def run(quick: bool) -> list[Row]:
    size = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as name, contextlib.ExitStack() as stack:
        folder = Path(name)
        sites = [_site(stack, folder, host) for host in SITES]
        topics = [
            topic
            for number, site in enumerate(sites, 1)
            for topic in site.topics(f"s{number}t", size.topics // len(SITES))
        ]
        slow = _site(stack, folder, SLOW_SITE, SLOW)
        victim = slow.topics(VICTIM[:-1], 1)[0]  # named VICTIM
        config = _config(folder, size, [*topics, victim])
        db = folder / "soak.db"
        log(f"soak: {len(topics)} + 1 topics every {size.interval:g} s, {size.checks} checks")
        with open(folder / "daemon.log", "w", encoding="utf-8") as daemon_log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "scheduler", "--config", str(config)],
                cwd=folder, env=child_env(), stdout=subprocess.DEVNULL, stderr=daemon_log,
            )  # fmt: skip
        try:
            soak = _drive(daemon, db, size, sites, topics)
        finally:
            stopped = _stop(daemon)
        text = (folder / "daemon.log").read_text(encoding="utf-8", errors="replace")
        return _rows(size, soak, db, text, stopped)


def _site(stack: contextlib.ExitStack, folder: Path, host: str, delay: float = 0.0) -> Site:
    root = folder / host
    server, base_url = serve(root, host, delay)
    stack.callback(_end, server)
    return Site(root, base_url)


def _end(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _stop(daemon: subprocess.Popen[str] | subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemd stops it; SIGKILL (the group) if it has not ended in 90 s."""
    daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.wait(90)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait(10)
        return -9


def _config(folder: Path, size: Size, topics: list[Topic]) -> Path:
    entries = "".join(f'[[topic]]\nname = "{t.tag}"\nurl = "{t.url}"\n' for t in topics)
    config = folder / "soak.toml"
    config.write_text(
        f'db = "soak.db"\nheartbeat = "5s"\ncrawl_workers = 2\nconcurrency = 8\n'
        f'per_site = 2\nshutdown_grace = "10s"\n[defaults]\nevery = "{size.interval:g}s"\n'
        f'timeout = "60s"\n[alerts]\nafter = 1000\n[settings]\nDOWNLOAD_DELAY = "0"\n'
        f'TOPICWATCH_WORKER_MAX_RUNS = "{size.max_runs}"\n{entries}',
        encoding="utf-8",
    )
    return config


# --------------------------------------------------------------------------- the soak


def _drive(
    daemon: subprocess.Popen[bytes], db: Path, size: Size, sites: list[Site], topics: list[Topic]
) -> Soak:
    """Poll the archive every 0.5 s until ``size.checks`` runs are done: publish changes,
    sample the workers, kill the slow topic's worker at the kill points, mark warm-up/end."""
    soak = Soak()
    kill_at = [size.checks * k // (size.kills + 1) for k in range(1, size.kills + 1)]
    site_of = {topic.tag: site for site in sites for topic in site_topics(site, topics)}
    deadline = time.monotonic() + size.checks / (len(topics) / size.interval) * 3 + 120
    while "end" not in soak.marks:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited ({daemon.returncode}) during the soak")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the soak ran out of time at {_done(db)} runs: {soak.marks}")
        done = _done(db)
        while soak.published < done // CHANGE_EVERY:
            topic = topics[soak.published % len(topics)]
            site_of[topic.tag].publish(topic)
            soak.published += 1
        for pid in _children(daemon.pid):
            soak.peaks[pid] = max(soak.peaks.get(pid, 0), _status_kb(pid, "VmHWM"))
        if kill_at and done >= kill_at[0] and _kill_victim(db, daemon.pid, soak):
            kill_at.pop(0)
        for mark, at in (("warm", size.warmup), ("end", size.checks)):
            if done >= at and mark not in soak.marks:
                soak.marks[mark] = (time.monotonic(), done, *_sample(daemon.pid))
                log(f"run {done}: {mark} {soak.marks[mark][2:]} (RSS kB, fds, all fds)")
        time.sleep(0.5)  # the poll's period, bounded by the deadline above
    return soak


def site_topics(site: Site, topics: list[Topic]) -> list[Topic]:
    return [topic for topic in topics if topic.url.startswith(site.base_url + "/")]


def _kill_victim(db: Path, daemon_pid: int, soak: Soak) -> bool:
    """SIGKILL the worker running the slow topic's run, if that run started within the last
    second or two (so it is seconds from its answer); True when one was killed."""
    found = _query(
        db,
        "SELECT id, pid, started_at FROM crawl_runs WHERE topic = ? AND status = 'running'"
        " ORDER BY id DESC LIMIT 1",
        (VICTIM,),
    )
    if not found:
        return False
    run_id, pid, started_at = found[0]
    age = (datetime.now(UTC) - datetime.fromisoformat(started_at)).total_seconds()
    if pid == daemon_pid or age > SLOW - 3 or pid not in _children(daemon_pid):
        return False
    os.kill(pid, signal.SIGKILL)
    soak.kills.append((pid, run_id))
    log(f"SIGKILL worker pid {pid} running run {run_id} ({VICTIM}, started {age:.1f} s ago)")
    return True


def _sample(pid: int) -> tuple[int, int, int, int, int]:
    """10 samples over 2 s: the daemon's RSS (kB, the most), its open fds and those of it
    and its workers, each as (fewest, most). The fewest is the floor a leak raises: the
    daemon opens the archive per task and workers open connections, so counts move."""
    samples = []
    for _ in range(10):
        fds = _fds(pid)
        samples.append((_status_kb(pid, "VmRSS"), fds, fds + sum(map(_fds, _children(pid)))))
        time.sleep(0.2)  # spacing samples, not synchronisation
    rss, own, all_ = zip(*samples, strict=True)
    return max(rss), min(own), max(own), min(all_), max(all_)


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (its crawl workers), from /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = Path(entry.path, "stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def _status_kb(pid: int, key: str) -> int:
    path = f"/proc/{pid}/status"
    with contextlib.suppress(OSError, StopIteration, ValueError), open(path) as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key + ":"))
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _query(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def _done(db: Path) -> int:
    found = _query(db, "SELECT count(*) FROM crawl_runs WHERE status != 'running'")
    return int(found[0][0]) if found else 0


# --------------------------------------------------------------------------- the verdict


@contextlib.contextmanager
def _archive(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def _kill_rows(size: Size, soak: Soak, db: Path, text: str) -> list[Row]:
    """Each killed run recorded failed with its reason, every lost order a failed run, the
    slow topic's next check on time; no run left without an outcome."""
    lost_said = {
        int(pid): int(count)
        for pid, count in re.findall(
            r"crawl worker pid (\d+) ended \(killed by SIGKILL, (\d+)", text
        )
    }
    with _archive(db) as conn:
        unfinished = conn.execute("SELECT count(*) FROM crawl_runs WHERE status = 'running'")
        open_runs = int(unfinished.fetchone()[0])
        recorded, lost, nexts, problems = 0, 0, [], []
        for pid, run_id in soak.kills:
            killed = conn.execute("SELECT * FROM crawl_runs WHERE id = ?", [run_id]).fetchone()
            if (killed["status"], killed["reason"]) == ("failed", "crash") and (
                "killed by SIGKILL" in killed["error"]
            ):
                recorded += 1
            else:
                problems.append(f"run {run_id}: {killed['status']}/{killed['reason']}")
            failed = conn.execute(
                "SELECT count(*) FROM crawl_runs WHERE pid = ? AND status = 'failed'"
                " AND reason = 'crash'", [pid],
            ).fetchone()[0]  # fmt: skip
            lost += lost_said.get(pid, -1)
            if failed != lost_said.get(pid):
                problems.append(f"pid {pid}: {lost_said.get(pid)} lost, {failed} recorded")
            after = conn.execute(
                "SELECT started_at FROM crawl_runs WHERE topic = ? AND id > ? ORDER BY id"
                " LIMIT 1", [VICTIM, run_id],
            ).fetchone()  # fmt: skip
            ended = datetime.fromisoformat(killed["finished_at"] or killed["started_at"])
            nexts.append(
                (datetime.fromisoformat(after[0]) - ended).total_seconds() if after else 1e9
            )
    late = max(nexts, default=0.0)
    kills_met = len(soak.kills) == size.kills and not problems and late <= size.interval + GRACE
    return [
        Row(f"SIGKILL of the worker running a crawl, {len(soak.kills)} times",
            f"{size.kills} kills planned",
            f"{recorded} killed runs failed/crash; {lost} order(s) lost = runs recorded"
            f" failed{'; ' + ', '.join(problems) if problems else ''}; next check"
            f" ≤ {late:.0f} s after", recorded / max(size.kills, 1),
            f"all recorded, next ≤ {size.interval:g} + {GRACE:g} s", kills_met),
        Row("runs without an outcome after the stop", "0", str(open_runs), float(open_runs),
            "0", open_runs == 0),
    ]  # fmt: skip


def _rows(size: Size, soak: Soak, db: Path, text: str, stopped: int) -> list[Row]:
    (t0, done0, rss0, fds0, top0, all0, most0) = soak.marks["warm"]
    (t1, done1, rss1, fds1, top1, all1, most1) = soak.marks["end"]
    recycles = len(re.findall(r"crawl worker pid \d+ recycles after", text))
    ran = {pid for (pid,) in _query(db, "SELECT DISTINCT pid FROM crawl_runs")}
    peaks = {pid: kb for pid, kb in soak.peaks.items() if pid in ran}  # not the config check
    first = list(peaks)[:2]  # the pool's first two: first seen (pids wrap around)
    log("worker peaks, MiB, as started: " + " ".join(f"{kb / 1024:.0f}" for kb in peaks.values()))
    first_peak = max((peaks[p] for p in first), default=0)
    later_peak = max((v for p, v in peaks.items() if p not in first), default=0)
    rate, due = (done1 - done0) / (t1 - t0), (size.topics / size.interval)
    growth = (rss1 - rss0) / 1024
    changed = _count(db, "SELECT count(*) FROM crawl_runs WHERE items_new > 0")
    return [
        Row(f"daemon RSS, run {done1:,} vs run {done0} ({changed:,} runs found a change,"
            f" daemon exit {stopped})", f"{rss0 / 1024:.1f} MiB",
            f"{rss1 / 1024:.1f} MiB (+{growth:.2f} MiB)", rss1 / rss0, "+≤ 10 MB",
            growth <= 10 and stopped == 0),
        Row(f"daemon open fds, run {done1:,} vs run {done0} (fewest of 10 samples; most)",
            f"{fds0} ({top0})", f"{fds1} ({top1})", fds1 / fds0, "+0", fds1 <= fds0),
        Row("open fds, daemon + its workers (fewest of 10 samples; most)", f"{all0} ({most0})",
            f"{all1} ({most1})", all1 / all0, "+≤ 4 (connections)", all1 <= all0 + 4),
        Row(f"crawl worker peak RSS over its life ({len(peaks)} workers, {recycles}"
            f" recycles at {size.max_runs} runs)", f"first workers {first_peak / 1024:.1f} MiB",
            f"later workers {later_peak / 1024:.1f} MiB", later_peak / max(first_peak, 1),
            f"≤ 1.2×, ≥ {size.checks // size.max_runs // 2} recycles",
            later_peak <= 1.2 * first_peak and recycles >= size.checks // size.max_runs // 2),
        Row("checks per second (warm-up to end)", f"due {due:.1f}/s", f"{rate:.1f}/s",
            rate / due, "informational", True),
        *_kill_rows(size, soak, db, text),
        _spacing(size, db),
    ]  # fmt: skip


def _count(db: Path, sql: str) -> int:
    with _archive(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _spacing(size: Size, db: Path) -> Row:
    """Start-to-start time between a topic's runs (the slow topic's excluded)."""
    with _archive(db) as conn:
        rows = conn.execute(
            "SELECT topic, started_at FROM crawl_runs WHERE topic != ? ORDER BY topic, id",
            [VICTIM],
        ).fetchall()
    by_topic: dict[str, list[float]] = {}
    for topic, started in rows:
        by_topic.setdefault(topic, []).append(datetime.fromisoformat(started).timestamp())
    gaps = [b - a for starts in by_topic.values() for a, b in pairwise(starts)]
    cuts = quantiles(gaps, n=100) if len(gaps) > 1 else [0.0] * 99
    return Row("run spacing per topic (start to start)", f"interval {size.interval:g} s",
               f"p50 {cuts[49]:.2f} s, p99 {cuts[98]:.2f} s, max {max(gaps, default=0):.0f} s",
               cuts[98] / size.interval, "informational", True)  # fmt: skip
