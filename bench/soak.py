"""Daemon soak: many scheduled runs; the daemon's RSS and open fds must not grow.

The real daemon (``python -m scheduler``) checks the local fixture site every second,
each check an order to one of its warm crawl workers; one run in :data:`CHANGE_EVERY`
finds a new article, the others find the page unchanged (the spider's conditional GET
answered 304), so both paths run hundreds of times. RSS and fd counts come from /proc
at run 10 (the baseline, after warm-up) and at the last run. Run spacing is
start-to-start time between runs.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from statistics import quantiles

from bench.children import child_env
from bench.report import Row, log

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from fixture_site import FixtureSite, make_articles

INTERVAL = 1.0
CHANGE_EVERY = 5
NOTES = """\
The daemon never imports Scrapy: each check is an order to one of its warm crawl
workers (`crawl_workers = 2`), whose memory is not counted here; an unchanged page is a
304 to the spider's conditional GET. The site gains an article every 5th run, so 1 run
in 5 finds a change and 4 a 304: the RSS and fd figures cover both paths. RSS
includes sqlite-utils and APScheduler (~38 MiB). Runs start on time (p50 spacing
1 s); when a crawl outlasts the interval the missed fire is coalesced, never overlapping
(`max_instances=1`). Lateness against the scheduler's planned fire times is not recorded
by the daemon and is not measured here."""


def _status(pid: int) -> tuple[int, int]:
    """RSS (kB) and open fds, the most over 2 s: the daemon opens the archive per task,
    so a single sample can fall between two of them."""
    samples = []
    for _ in range(10):
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
        samples.append((rss, len(os.listdir(f"/proc/{pid}/fd"))))
        time.sleep(0.2)  # spacing samples, not synchronisation
    return max(s[0] for s in samples), max(s[1] for s in samples)


def _finished_runs(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
        try:
            query = "SELECT count(*) FROM crawl_runs WHERE status != 'running'"
            return int(conn.execute(query).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _config(folder: Path, topic_url: str) -> Path:
    config = folder / "soak.toml"
    config.write_text(
        f'db = "soak.db"\nheartbeat = "5s"\n[defaults]\nevery = "{INTERVAL:g}s"\n'
        f'timeout = "60s"\n[settings]\nDOWNLOAD_DELAY = "0"\n'
        f'[[topic]]\nname = "nato"\nurl = "{topic_url}"\n',
        encoding="utf-8",
    )
    return config


def run(quick: bool) -> list[Row]:
    target = 30 if quick else 500
    with tempfile.TemporaryDirectory() as name, FixtureSite() as site:
        folder = Path(name)
        config = _config(folder, site.topic_url())
        daemon = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "--config", str(config)],
            cwd=folder, env=child_env(), stderr=subprocess.DEVNULL,
        )  # fmt: skip
        marks: dict[int, tuple[int, int]] = {}
        changes = 0
        deadline = time.monotonic() + target * 4 * INTERVAL + 60
        try:
            while time.monotonic() < deadline and target not in marks:
                done = _finished_runs(folder / "soak.db")
                if done // CHANGE_EVERY > changes:
                    changes = done // CHANGE_EVERY
                    site.add_articles(make_articles(1, start=1000 + changes))
                for mark in (10, target):
                    if done >= mark and mark not in marks:
                        marks[mark] = _status(daemon.pid)
                        log(f"run {done}: RSS {marks[mark][0]} kB, {marks[mark][1]} fds")
                time.sleep(0.2)  # polling the archive's progress, bounded by the deadline
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
        starts = _starts(folder / "soak.db")
        in_daemon = _runs_by(folder / "soak.db", daemon.pid)
    return _rows(target, marks, starts, in_daemon)


def _starts(db: Path) -> list[float]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT started_at FROM crawl_runs ORDER BY id").fetchall()
    finally:
        conn.close()
    return [datetime.fromisoformat(row[0]).timestamp() for row in rows]


def _runs_by(db: Path, pid: int) -> tuple[int, int]:
    """Ok runs recorded by the daemon itself (none since issue 15) and by crawl workers."""
    conn = sqlite3.connect(db)
    try:
        query = "SELECT pid = ?, count(*) FROM crawl_runs WHERE status = 'ok' GROUP BY 1"
        counts = dict(conn.execute(query, [pid]).fetchall())
    finally:
        conn.close()
    return counts.get(1, 0), counts.get(0, 0)


def _rows(
    target: int,
    marks: dict[int, tuple[int, int]],
    starts: list[float],
    in_daemon: tuple[int, int],
) -> list[Row]:
    if target not in marks or 10 not in marks:
        return [Row("daemon soak", "run 10", f"only {len(starts)} runs", 0.0, "", False)]
    (rss10, fds10), (rss_n, fds_n) = marks[10], marks[target]
    spacing = [b - a for a, b in pairwise(starts)]
    cuts = quantiles(spacing, n=100) if len(spacing) > 1 else [0.0] * 99
    growth = (rss_n - rss10) / 1024
    return [
        Row(f"daemon RSS, run {target} vs run 10 ({in_daemon[0]} runs by the daemon,"
            f" {in_daemon[1]} by crawl workers)", f"{rss10 / 1024:.1f} MiB",
            f"{rss_n / 1024:.1f} MiB (+{growth:.2f} MiB)", rss_n / rss10, "+≤ 10 MB",
            growth <= 10),
        Row(f"daemon open fds, run {target} vs run 10", f"{fds10}", f"{fds_n}", fds_n / fds10,
            "+0", fds_n <= fds10),
        Row("run spacing (start to start)", f"interval {INTERVAL:g} s",
            f"p50 {cuts[49]:.2f} s, p99 {cuts[98]:.2f} s", cuts[98] / INTERVAL,
            "informational", True),
    ]  # fmt: skip
