"""Daemon soak: many scheduled runs; the daemon's RSS and open fds must not grow.

The real daemon (``python -m scheduler``) crawls the local fixture site every second;
RSS and fd counts come from /proc at run 10 (the baseline, after warm-up) and at the
last run. Run spacing is start-to-start time between consecutive runs.
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

from bench.report import Row, log

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from fixture_site import FixtureSite

INTERVAL = 1.0
NOTES = """\
The daemon never imports Scrapy: each crawl is a child `topicwatch crawl` process, so
memory a crawl uses is returned to the system when it exits. RSS includes sqlite-utils
and APScheduler (~37 MiB). At a 1 s interval a crawl child takes ~0.8-0.9 s: runs start
on time (p50 spacing 1 s); when a crawl outlasts the interval the missed fire is
coalesced (p99 2 s), never overlapping (`max_instances=1`). Lateness against the
scheduler's planned fire times is not recorded by the daemon and is not measured here."""


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
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["PYTHONPATH"] = str(Path(__file__).parents[1])
        daemon = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "--config", str(config)],
            cwd=folder, env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        marks: dict[int, tuple[int, int]] = {}
        deadline = time.monotonic() + target * 4 * INTERVAL + 60
        try:
            while time.monotonic() < deadline and target not in marks:
                done = _finished_runs(folder / "soak.db")
                for mark in (10, target):
                    if done >= mark and mark not in marks:
                        marks[mark] = _status(daemon.pid)
                        log(f"run {done}: RSS {marks[mark][0]} kB, {marks[mark][1]} fds")
                time.sleep(0.2)  # polling the archive's progress, bounded by the deadline
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
        starts = _starts(folder / "soak.db")
    return _rows(target, marks, starts)


def _starts(db: Path) -> list[float]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT started_at FROM crawl_runs ORDER BY id").fetchall()
    finally:
        conn.close()
    return [datetime.fromisoformat(row[0]).timestamp() for row in rows]


def _rows(target: int, marks: dict[int, tuple[int, int]], starts: list[float]) -> list[Row]:
    if target not in marks or 10 not in marks:
        return [Row("daemon soak", "run 10", f"only {len(starts)} runs", 0.0, "", False)]
    (rss10, fds10), (rss_n, fds_n) = marks[10], marks[target]
    spacing = [b - a for a, b in pairwise(starts)]
    cuts = quantiles(spacing, n=100) if len(spacing) > 1 else [0.0] * 99
    growth = (rss_n - rss10) / 1024
    return [
        Row(f"daemon RSS, run {target} vs run 10", f"{rss10 / 1024:.1f} MiB",
            f"{rss_n / 1024:.1f} MiB (+{growth:.2f} MiB)", rss_n / rss10, "+≤ 10 MB",
            growth <= 10),
        Row(f"daemon open fds, run {target} vs run 10", f"{fds10}", f"{fds_n}", fds_n / fds10,
            "+0", fds_n <= fds10),
        Row("run spacing (start to start)", f"interval {INTERVAL:g} s",
            f"p50 {cuts[49]:.2f} s, p99 {cuts[98]:.2f} s", cuts[98] / INTERVAL,
            "informational", True),
    ]  # fmt: skip
