"""What one scheduled check of an unchanged topic page costs: the floor, a process per
check, and a warm crawl worker.

The site is what WordPress tag pages usually are: ~20 cards a page and no validators (no
ETag, no Last-Modified), so every check downloads, parses and compares the whole page.
It is served by a separate process (so its CPU is never counted), one listing per topic.

* **Floor** (the baseline): plain Python in one long-lived process — ``urllib`` GET, lxml
  parse, XPath of the cards, an SQLite upsert of them. No politeness, no history.
* **Process per check**: ``topicwatch crawl`` in its own child process, as the daemon
  runs each check without workers (``crawl_workers = 0``).
* **Warm worker**: ``python -m topicwatch.crawler.worker``, one long-lived process taking
  one order per check (``crawl_workers > 0``).

The figure is CPU time per check (user + system): ``time.process_time`` for the floor,
``RUSAGE_CHILDREN`` for the child processes, the worker's own ``/proc`` counters for it.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from lxml import html as lxml_html

from bench.children import child_env, setting_args
from bench.report import Row, log
from bench.static_site import free_port, listing_articles

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from fixture_site import _listing_path, _ListingView, render_listing

TOPICS = 20
TARGET = 3.0  # × the floor, for the warm worker (at or below urlwatch)
SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "TOPICWATCH_ENRICH": "False",
    "ROBOTSTXT_OBEY": "False",
    "LOG_LEVEL": "WARNING",
}

NOTES = f"""\
{TOPICS} topic listings of 20 cards each, served without validators (no ETag or
Last-Modified, as WordPress tag pages usually are) by a separate Python process; every
check reads an unchanged page. Floor: plain Python in one long-lived process (urllib GET,
lxml parse, XPath of the cards, an SQLite upsert). Process per check: `topicwatch crawl`
in its own child, as the daemon runs checks with `crawl_workers = 0`. Warm worker:
`python -m topicwatch.crawler.worker`, one order per check (`crawl_workers > 0`). CPU
time per check (user + system), median of rounds; robots.txt and enrichment off for all
three (the floor reads neither)."""

_SERVER = """
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

class Handler(SimpleHTTPRequestHandler):
    def send_header(self, name, value):
        if name.lower() != "last-modified":  # no validators: every check reads the page
            super().send_header(name, value)
    def log_message(self, *args):
        pass

handler = partial(Handler, directory=sys.argv[1])
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), handler)
print("ready", flush=True)
server.serve_forever()
"""


def run(quick: bool) -> list[Row]:
    rounds = 2 if quick else 5
    checks = TOPICS if quick else 3 * TOPICS
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        urls = _write_site(base / "www", base_url)
        server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(base / "www"), str(port)],
            stdout=subprocess.PIPE, text=True, env=child_env(),
        )  # fmt: skip
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            db = base / "archive.db"
            for url in urls:  # first crawls: every later check meets an unchanged page
                _crawl(url, db)
            log(f"checks: {TOPICS} topics, {checks} checks a round, {rounds} rounds")
            floor = [_floor(urls, checks, base / "floor.db") for _ in range(rounds)]
            worker = _worker(urls, checks, rounds, db)
            per_process = [_per_process(urls, max(3, checks // 10), db) for _ in range(rounds)]
        finally:
            server.terminate()
            server.wait(10)
    baseline = statistics.median(floor)
    rows = []
    for what, seconds, target in (
        ("warm crawl worker", statistics.median(worker), TARGET),
        ("`topicwatch crawl`, a process per check", statistics.median(per_process), None),
    ):
        ratio = seconds / baseline
        rows.append(
            Row(
                what=f"unchanged check, no validators: {what}",
                baseline=f"floor {baseline * 1000:.1f} ms CPU",
                measured=f"{seconds * 1000:.1f} ms CPU",
                ratio=ratio,
                target=f"≤ {target:g}×" if target else "–",
                met=ratio <= target if target else True,
            )
        )
    return rows


def _write_site(root: Path, base_url: str) -> list[str]:
    urls = []
    for number in range(1, TOPICS + 1):
        tag = f"t{number}"
        articles = listing_articles(1, start=number * 100)
        path = _listing_path(tag, 1)
        folder = root / path.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        view = _ListingView(base_url, tag, articles, 1, 1, True)
        (folder / "index.html").write_text(render_listing(view), encoding="utf-8")
        urls.append(base_url + path)
    return urls


def _crawl(url: str, db: Path) -> None:
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", url, "--db", str(db)]
    done = subprocess.run(
        [*command, "--json", *setting_args(SETTINGS)],
        capture_output=True, text=True, env=child_env(), timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"crawl of {url} exited {done.returncode}: {done.stderr[-500:]}")


def _floor(urls: list[str], checks: int, db_path: Path) -> float:
    """CPU seconds per check of the plain-Python floor, in this process."""
    db = sqlite3.connect(db_path)
    db.execute(
        "CREATE TABLE IF NOT EXISTS cards (url TEXT PRIMARY KEY, headline TEXT, summary TEXT,"
        " seen INTEGER)"
    )
    start = time.process_time()
    for check in range(checks):
        with urllib.request.urlopen(urls[check % len(urls)], timeout=30) as response:
            page = lxml_html.fromstring(response.read())
        cards = [
            (
                "".join(card.xpath(".//a/@href")[:1]),
                card.findtext(".//h3") or "",
                card.findtext(".//p") or "",
                check,
            )
            for card in page.xpath("//article[contains(@class, 'p-card')]")
        ]
        with db:
            db.executemany(
                "INSERT INTO cards VALUES (?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET"
                " headline = excluded.headline, summary = excluded.summary, seen = excluded.seen",
                cards,
            )
    seconds = (time.process_time() - start) / checks
    db.close()
    return seconds


def _per_process(urls: list[str], checks: int, db: Path) -> float:
    """CPU seconds per check of ``topicwatch crawl`` children (start-up included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for check in range(checks):
        _crawl(urls[check % len(urls)], db)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / checks


def _worker(urls: list[str], checks: int, rounds: int, db: Path) -> list[float]:
    """CPU seconds per check in one warm worker, a figure per round (after a warm-up)."""
    command = [sys.executable, "-m", "topicwatch.crawler.worker", "--db", str(db)]
    worker = subprocess.Popen(
        [*command, *setting_args(SETTINGS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=child_env(),
    )  # fmt: skip
    assert worker.stdin is not None and worker.stdout is not None
    order = 0

    def one_round(count: int) -> None:
        nonlocal order
        for check in range(count):  # one at a time: a check's cost, not a batch's
            order += 1
            assert worker.stdin is not None and worker.stdout is not None
            line = {"order": order, "url": urls[check % len(urls)], "timeout": 120}
            worker.stdin.write(json.dumps(line) + "\n")
            worker.stdin.flush()
            answer: dict[str, Any] = json.loads(worker.stdout.readline())
            if answer.get("status") != "ok":
                raise RuntimeError(f"worker check not ok: {answer}")

    try:
        one_round(len(urls))  # warm-up: imports, engine, connections
        figures = []
        for _ in range(rounds):
            before = _cpu_seconds(worker.pid)
            one_round(checks)
            figures.append((_cpu_seconds(worker.pid) - before) / checks)
        return figures
    finally:
        worker.stdin.close()
        worker.wait(60)


def _cpu_seconds(pid: int) -> float:
    """A live process's user + system CPU seconds, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")
