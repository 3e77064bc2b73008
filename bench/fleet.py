"""1,000 topics every 15 minutes: the real daemon, its warm workers, a local site.

The site is what WordPress tag pages usually are (20 cards, no ETag, no Last-Modified),
1,000 topic listings spread over 100 loopback hosts (``127.0.0.2`` … ``127.0.0.101``, ten
topics each: the daemon's ``per_site`` limit and site gap count a host, any port, see
``topicwatch.origins.site_of``), served by a separate Python process (never counted).
During the measured window a few percent of the pages gain an article on top (its page
written first), so both an unchanged and a changed check run.

Phases:

1. **Warm-up**: every topic's first crawl is a full one (its 20 articles read), so it is
   made by one ``topicwatch crawl --all --config fleet.toml`` before the daemon starts,
   without the site gap (``-s DOWNLOAD_DELAY=0``): at the default 1 s gap, 1,000 first
   crawls of 21 requests each take hours on two crawl slots. Reported, no target.
2. **Idle**: the daemon (``python -m scheduler --config fleet.toml``, default
   ``concurrency``, ``crawl_workers``, ``per_site`` and ``DOWNLOAD_DELAY``) starts on that
   archive; a topic's first scheduled check is due one interval after its first crawl
   started (``first_run_time``), so until then it only beats. Its RSS here is the baseline.
   The batch starts all its runs within a second or two, so every check of an interval
   falls due at once (no ``jitter``): a burst, the worst case for lateness.
3. **Window**: from the first due time, whole intervals. Every due time in it should get a
   run. A run's lateness is its ``crawl_runs.started_at`` (whole seconds) minus its due time
   (the warm-up run's ``started_at`` plus k intervals, as the daemon computes it).

CPU and RSS come from ``/proc`` once a second for the daemon and its children (the warm
workers): CPU is the daemon's utime + stime + cutime + cstime (its reaped children, a
recycled worker included) plus each live child's, so it is exact to the clock tick.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import quantiles
from typing import Any

from bench.checks import Site, Topic, _floor
from bench.children import child_env
from bench.report import Row, log
from bench.static_site import free_port

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from fixture_site import ROBOTS_TXT


@dataclass(frozen=True)
class Plan:
    """The size of one bench run."""

    topics: int
    hosts: int
    interval: float  # seconds between a topic's checks
    intervals: int  # measured window, in intervals
    changed_share: float  # of the topics, per interval, gaining an article
    tail: float  # seconds after the window for its last runs to end


FULL = Plan(topics=1000, hosts=100, interval=900.0, intervals=1, changed_share=0.03, tail=120.0)
QUICK = Plan(topics=40, hosts=8, interval=15.0, intervals=2, changed_share=0.1, tail=20.0)
LATE_TARGET = 60.0  # seconds, p99 of run start after its due time
CPU_TARGET = 10.0  # percent of one core, daemon + workers, averaged over the window
RSS_TARGET = 400.0  # MiB, daemon + workers
FLOOR_TOPICS = 20

NOTES = """\
The real daemon (`python -m scheduler`, default `concurrency` 2, `crawl_workers` 2,
`per_site` 1, `DOWNLOAD_DELAY` 1 s as the site gap, no jitter) with 1,000 `[[topic]]`s
every 15 minutes, against 1,000 WordPress-like tag listings (20 cards, no ETag or
Last-Modified) on 100 loopback hosts, ten topics a host, served by a separate Python
process. Warm-up: each topic's first (full) crawl, its 20 articles read, is one
`topicwatch crawl --all` before the daemon starts, without the site gap (at 1 s a
request it would take hours); a restarted daemon then schedules each topic one interval
after that run. The batch opens every topic's run within a second or two, so (without
`jitter`) all 1,000 checks fall due together once an interval, as they would for 1,000
topics added to a config at once: the lateness is that of a burst drained by two crawl
slots, the worst case for the target. Window: one whole interval from the first due
time; before each of its due times, 3% of the pages gain an article (its page written
first), at even spacing through the second half of the interval before it. Lateness: a
run's `crawl_runs.started_at` (whole seconds) minus its due time (the warm-up run's
start plus k intervals). CPU: the daemon's and its children's utime + stime + cutime +
cstime from /proc (recycled workers included), over the window. RSS: the sum of VmRSS of
the daemon and its workers, sampled every second; the baseline is the same sum while
idle before the first due time (workers started, nothing due). CPU baseline: the
plain-Python floor of bench/checks (urllib GET, lxml, XPath, SQLite upsert; unchanged
page) measured in the same run on 20 of the same pages, times the window's checks per
second. The machine is shared: other processes ran beside the bench."""

_SERVER = """
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

class Handler(SimpleHTTPRequestHandler):
    def send_header(self, name, value):
        if name.lower() != "last-modified":  # no validators: every check reads the page
            super().send_header(name, value)
    def log_message(self, *args):
        pass

root, port, hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for host in hosts:
    server = ThreadingHTTPServer((host, port), partial(Handler, directory=f"{root}/{host}"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""


@dataclass
class Sample:
    at: float  # wall clock, seconds
    cpu: float  # seconds, daemon + children, reaped ones included
    own: float  # seconds, the daemon's own (its threads, not its children)
    rss: float  # MiB, daemon + live children
    children: int


@dataclass
class Sampler:
    """Samples the daemon's process tree once a second on its own thread."""

    pid: int
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.wait(1.0):
            sample = _tree_sample(self.pid)
            if sample is not None:
                self.samples.append(sample)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def _tree_sample(pid: int) -> Sample | None:
    pids = [pid, *_children(pid)]
    cpu = rss = own = 0.0
    for number in pids:
        figures = _proc(number)
        if figures is None:
            if number == pid:
                return None
            continue  # ended between the listing and the read: counted once reaped
        cpu, rss = cpu + figures[0], rss + figures[1]
        own = figures[2] if number == pid else own
    return Sample(time.time(), cpu, own, rss, len(pids) - 1)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == pid:
                    found.append(int(entry))
    return found


def _proc(pid: int) -> tuple[float, float, float] | None:
    """CPU seconds (with reaped children's), RSS (MiB) and its own CPU seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    own = int(stat[11]) + int(stat[12])  # utime, stime
    ticks = own + int(stat[13]) + int(stat[14])  # cutime, cstime: reaped children
    rss = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0
    )
    tick = os.sysconf("SC_CLK_TCK")
    return ticks / tick, rss / 1024, own / tick


@dataclass
class Fleet:
    """The site's hosts and topics, and the config naming them."""

    sites: list[Site]
    topics: dict[str, tuple[Site, Topic]]  # topic name -> its host's site and listing

    def publish(self, name: str) -> None:
        site, topic = self.topics[name]
        site.publish(topic)


def _fleet(root: Path, port: int, plan: Plan) -> Fleet:
    sites, topics = [], {}
    per_host = plan.topics // plan.hosts
    for number in range(plan.hosts):
        host = f"127.0.0.{number + 2}"
        folder = root / host
        folder.mkdir(parents=True)
        (folder / "robots.txt").write_text(ROBOTS_TXT, encoding="utf-8")
        site = Site(folder, f"http://{host}:{port}")
        sites.append(site)
        for topic in site.topics("t", per_host):
            topics[f"h{number + 2}-{topic.tag}"] = (site, topic)
    return Fleet(sites, topics)


def _config(folder: Path, fleet: Fleet, plan: Plan) -> Path:
    lines = ['db = "fleet.db"', "[defaults]", f'every = "{plan.interval:g}s"']
    for name, (_, topic) in fleet.topics.items():
        lines += ["[[topic]]", f'name = "{name}"', f'url = "{topic.url}"']
    config = folder / "fleet.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


@contextlib.contextmanager
def _server(root: Path, port: int, hosts: list[str]) -> Iterator[None]:
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(root), str(port), *hosts],
        stdout=subprocess.PIPE, text=True, env=child_env(), start_new_session=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield
    finally:
        _end(server)


def _end(process: subprocess.Popen[Any], grace: float = 60.0) -> None:
    """SIGTERM, then SIGKILL to the process group (it was started in its own session)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"pid {process.pid} did not end: SIGKILL to its group")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@dataclass(frozen=True)
class WarmUp:
    seconds: float
    cpu: float  # seconds, the whole crawl --all process
    ok: int


def _warm_up(folder: Path, config: Path) -> WarmUp:
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "topicwatch", "crawl", "--all", "--config", str(config),
         "--json", "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=WARNING"],
        cwd=folder, env=child_env(), capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    seconds, after = time.monotonic() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"crawl --all exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    with _read(folder / "fleet.db") as db:
        ok = db.execute("SELECT count(*) FROM crawl_runs WHERE status = 'ok'").fetchone()[0]
    return WarmUp(seconds, cpu, int(ok))


@contextlib.contextmanager
def _read(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        yield db
    finally:
        db.close()


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _first_runs(db_path: Path) -> dict[str, float]:
    """Each topic's warm-up run start (what the daemon counts its first due time from)."""
    with _read(db_path) as db:
        rows = db.execute(
            "SELECT topic, min(started_at) FROM crawl_runs WHERE trigger = 'manual'"
            " AND status = 'ok' GROUP BY topic"
        ).fetchall()
    return {topic: _stamp(started) for topic, started in rows}


def _scheduled(db_path: Path) -> dict[str, list[tuple[float, str, int]]]:
    """Each topic's scheduled runs so far: (start, status, new items), oldest first."""
    with _read(db_path) as db:
        rows = db.execute(
            "SELECT topic, started_at, status, items_new FROM crawl_runs"
            " WHERE trigger = 'schedule' ORDER BY started_at, id"
        ).fetchall()
    runs: dict[str, list[tuple[float, str, int]]] = {}
    for topic, started, status, new in rows:
        runs.setdefault(topic, []).append((_stamp(started), status, new))
    return runs


def _dues(first: dict[str, float], plan: Plan) -> tuple[float, float, dict[str, list[float]]]:
    """The window (start, end) and each topic's due times in it."""
    start = min(first.values()) + plan.interval
    end = start + plan.intervals * plan.interval
    dues = {}
    for topic, began in first.items():
        times = [began + k * plan.interval for k in range(1, plan.intervals + 2)]
        dues[topic] = [due for due in times if start <= due < end]
    return start, end, dues


def run(quick: bool) -> list[Row]:
    plan = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        port = free_port()
        fleet = _fleet(folder / "www", port, plan)
        config = _config(folder, fleet, plan)
        hosts = [f"127.0.0.{number + 2}" for number in range(plan.hosts)]
        with _server(folder / "www", port, hosts):
            log(f"fleet: {plan.topics} topics on {plan.hosts} hosts; warm-up crawl --all ...")
            warm = _warm_up(folder, config)
            log(f"fleet: warm-up {warm.ok} ok runs in {warm.seconds:.0f} s")
            measured = _measure(folder, config, fleet, plan)
            urls = [topic.url for _, topic in list(fleet.topics.values())[:FLOOR_TOPICS]]
            _floor(urls, len(urls), folder / "floor.db")  # warm-up: every card known
            floor = _floor(urls, 3 * len(urls), folder / "floor.db")
    return [*_schedule_rows(plan, measured), *_cost_rows(plan, measured, floor, warm)]


@dataclass
class Measured:
    daemon_start: float
    window: tuple[float, float]
    dues: dict[str, list[float]]
    runs: dict[str, list[tuple[float, str, int]]]
    samples: list[Sample]
    published: list[tuple[float, str]]  # when each change was written, and its topic
    missed: int  # the daemon's own "missed" events (due times it ran no check for)


def _measure(folder: Path, config: Path, fleet: Fleet, plan: Plan) -> Measured:
    db_path = folder / "fleet.db"
    start, end, dues = _dues(_first_runs(db_path), plan)
    due_count = sum(len(times) for times in dues.values())
    planned = _changes(list(fleet.topics), start, plan)
    changes = len(planned)
    published: list[tuple[float, str]] = []
    daemon_start = time.time()
    with (folder / "daemon.log").open("w") as daemon_log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "--config", str(config)], cwd=folder,
            env=child_env(), stdout=daemon_log, stderr=daemon_log, start_new_session=True,
        )  # fmt: skip
    sampler = Sampler(daemon.pid)
    try:
        log(f"fleet: daemon pid {daemon.pid}; window in {start - time.time():.0f} s,"
            f" {plan.intervals * plan.interval:g} s long, {due_count} runs due")  # fmt: skip
        while time.time() < end + plan.tail:
            if daemon.poll() is not None:
                log((folder / "daemon.log").read_text()[-3000:])
                raise RuntimeError(f"the daemon exited {daemon.returncode}")
            while len(published) < changes and planned[len(published)][0] <= time.time():
                topic = planned[len(published)][1]
                fleet.publish(topic)
                published.append((time.time(), topic))
            if time.time() > end and _all_ran(_scheduled(db_path), dues):
                break
            time.sleep(0.5)  # the publishing clock and a bounded wait, not synchronisation
    finally:
        _end(daemon)
        sampler.close()
    with _read(db_path) as db:
        missed = db.execute("SELECT count(*) FROM daemon_events WHERE kind = 'missed'").fetchone()
    return Measured(
        daemon_start, (start, end), dues, _scheduled(db_path), sampler.samples, published,
        int(missed[0]),
    )  # fmt: skip


def _changes(names: list[str], start: float, plan: Plan) -> list[tuple[float, str]]:
    """When each page changes, and which: in the second half of the interval before each
    of the window's due times (the checks come as one burst), so each check can see it."""
    each = round(plan.changed_share * plan.topics)
    planned = []
    for interval in range(plan.intervals):
        begin = start + (interval - 0.5) * plan.interval
        for number in range(each):
            at = begin + (number + 0.5) / each * 0.4 * plan.interval
            count = interval * each + number  # 37 is prime to the topic counts: distinct
            planned.append((at, names[(count * 37) % len(names)]))
    return planned


def _all_ran(runs: dict[str, list[tuple[float, str, int]]], dues: dict[str, list[float]]) -> bool:
    return all(
        len([run for run in runs.get(topic, []) if run[1] != "running"]) >= len(times)
        for topic, times in dues.items()
    )


def _schedule_rows(plan: Plan, measured: Measured) -> list[Row]:
    """Lateness of each due time's run (the k-th scheduled run of a topic stands for its
    k-th due time), and whether every due time got an ok run that saw its page's change."""
    lateness, failed, missing = [], 0, 0
    for topic, times in measured.dues.items():
        runs = measured.runs.get(topic, [])
        lateness += [max(run[0] - due, 0.0) for due, run in zip(times, runs, strict=False)]
        failed += sum(run[1] != "ok" for run in runs[: len(times)])
        missing += max(len(times) - len(runs), 0)
    due_count = sum(len(times) for times in measured.dues.values())
    cuts = quantiles(lateness, n=100) if len(lateness) > 1 else [0.0] * 99
    # A change is seen by the topic's first run that surely started after it was written
    # (started_at has whole seconds).
    seeable = [
        (at, topic)
        for at, topic in measured.published
        if any(run[0] >= at + 1 for run in measured.runs.get(topic, []))
    ]
    seen = sum(
        next(run for run in measured.runs[topic] if run[0] >= at + 1)[2] > 0
        for at, topic in seeable
    )
    every = f"{plan.interval / 60:g} min" if plan.interval >= 60 else f"{plan.interval:g} s"
    p99 = cuts[98]
    return [
        Row(f"run start after its due time, {due_count} runs due ({plan.topics} topics every"
            f" {every}, {plan.hosts} hosts)", f"interval {plan.interval:g} s",
            f"p50 {cuts[49]:.0f} s, p99 {p99:.0f} s, max {max(lateness, default=0):.0f} s",
            p99 / plan.interval, f"p99 ≤ {LATE_TARGET:g} s", p99 <= LATE_TARGET and not missing),
        Row(f"runs started vs due ({failed} not ok, {measured.missed} logged missed; a new item"
            f" found for {seen} of the {len(seeable)} changed pages checked since)",
            f"{due_count} due", f"{due_count - missing} started", (due_count - missing) / due_count,
            "all, ok, changes found", not missing and not failed and seen == len(seeable)),
    ]  # fmt: skip


def _cost_rows(plan: Plan, measured: Measured, floor: float, warm: WarmUp) -> list[Row]:
    """CPU and RSS of the daemon and its workers over the window, against the floor doing
    the same checks and against the same processes idle before the window."""
    start, end = measured.window
    window = [s for s in measured.samples if start <= s.at <= end]
    idle_from = measured.daemon_start + min(20.0, (start - measured.daemon_start) / 2)
    idle = [s for s in measured.samples if idle_from <= s.at < start - 1]
    cpu, idle_cpu = _cpu_percent(window), _cpu_percent(idle)
    own = _cpu_percent(window, own=True)
    peak = max((s.rss for s in window), default=0.0)
    mean = sum(s.rss for s in window) / max(len(window), 1)
    idle_rss = sum(s.rss for s in idle) / max(len(idle), 1)
    per_second = sum(len(times) for times in measured.dues.values()) / (end - start)
    floor_cpu = floor * per_second * 100
    per_topic = warm.cpu / max(warm.ok, 1)
    return [
        Row("CPU, daemon + workers, average over the window",
            f"floor {floor * 1000:.1f} ms × {per_second:.2f} checks/s = {floor_cpu:.2f}% of a core",
            f"{cpu:.2f}% of a core (daemon {own:.2f}%, workers {cpu - own:.2f}%;"
            f" idle before it {idle_cpu:.2f}%)",
            cpu / floor_cpu if floor_cpu else 0.0, f"≤ {CPU_TARGET:g}% of a core",
            cpu <= CPU_TARGET),
        Row("RSS, daemon + workers (sum of VmRSS, every second)",
            f"idle before the window {idle_rss:.0f} MiB",
            f"peak {peak:.0f} MiB, mean {mean:.0f} MiB", peak / idle_rss if idle_rss else 0.0,
            f"≤ {RSS_TARGET:g} MiB", peak <= RSS_TARGET),
        Row(f"warm-up: first (full) crawls, `topicwatch crawl --all`, no site gap ({warm.ok} ok)",
            f"floor {floor * 1000:.1f} ms CPU a check",
            f"{warm.seconds:.0f} s, {per_topic * 1000:.0f} ms CPU a topic", per_topic / floor,
            "informational", True),
    ]  # fmt: skip


def _cpu_percent(samples: list[Sample], own: bool = False) -> float:
    """Percent of one core between the first and last sample (``own``: the daemon's own)."""
    if len(samples) < 2:
        return 0.0
    first, last = samples[0], samples[-1]
    spent = last.own - first.own if own else last.cpu - first.cpu
    return spent / (last.at - first.at) * 100
