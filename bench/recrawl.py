"""What a scheduled check costs when the topic page has not changed (304) vs when it has.

A topic of five listing pages is crawled once; then, round after round, the site changes
page 1 (one new article on top, one headline edited) and the topic is re-crawled, then
checked again with nothing changed, so page 1 answers 304 to the stored validators.

* The changed re-crawl is ``topicwatch crawl`` in its own child process, as the daemon
  runs it (enrichment on: it fetches the new and the edited item's article pages).
* The unchanged check is what the daemon does for every scheduled check: an order to a
  warm crawl worker (:class:`bench.children.WarmWorker`, as bench/checks.py drives one),
  whose spider sends the stored validators and gets a 304.
* For comparison, ``topicwatch crawl`` of the unchanged page: the same 304 in a crawl
  process of its own (the daemon's way with ``crawl_workers = 0``).

The cost is CPU time (user + system): ``resource.getrusage(RUSAGE_CHILDREN)`` for a child
process, start-up and imports included, the worker's own /proc counters for its order.
"""

from __future__ import annotations

import resource
import sqlite3
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.children import WarmWorker, topicwatch_crawl
from bench.report import Row, log
from bench.static_site import listing_articles, static_site

TARGET = 0.1
PAGES = 5
# Checks per round in the worker: its CPU counters tick every 10 ms, a check takes less.
CHECKS = 10

SETTINGS = {"DOWNLOAD_DELAY": "0", "LOG_LEVEL": "WARNING"}

NOTES = f"""\
A five-page topic (100 items) on a private static server (nginx where installed); after
a first full crawl, rounds of (1) page 1 changed (one new article on top, one headline
edited, article pages served), then `topicwatch crawl` in a child process (reads page 1,
meets known items, stops, enriches the 2 items); (2) nothing changed: the daemon's
scheduled check, an order to a warm crawl worker started once for the bench (its spider
sends the stored validators, the server answers 304, the not-modified run is committed;
the worker's CPU per order, over {CHECKS} orders a round since its counters tick every
10 ms); (3) nothing changed, `topicwatch crawl` anyway (the same 304 in a process of its
own). Settings are the project's but `DOWNLOAD_DELAY=0`. Cost is CPU time (user +
system; a child's start-up and imports included), median over the rounds. Most of a
crawl process's cost is fixed (interpreter, Scrapy's imports, the engine): a 304 saves
the page transfer, extraction, article fetches and writes but not that, which is why the
daemon hands every check to a warm worker (one HTTP stack, Scrapy's, since issue 15)."""


def run(quick: bool) -> list[Row]:
    rounds = 3 if quick else 15
    articles = listing_articles(PAGES)
    with tempfile.TemporaryDirectory() as folder, static_site(Path(folder), PAGES) as site:
        log(f"recrawl: {rounds} rounds on {PAGES} pages served by {site.server}")
        site.write_articles(articles)
        db = Path(folder) / "recrawl.db"
        url = site.topic_url()
        _crawl_cpu(db, url, "--max-pages", str(PAGES))
        changed, checked, crawled = [], [], []
        with WarmWorker(db, SETTINGS) as worker:
            _check_cpu(worker, db, url)  # warm-up: the engine's first request, robots.txt
            for number in range(1, rounds + 1):
                articles = _changed_front_page(articles, number)
                site.write_articles(articles[:2])
                site.write_listing(articles, PAGES)
                changed.append(_crawl_cpu(db, url, expect=("items_new", 1)))
                checked.append(_check_cpu(worker, db, url))
                crawled.append(_crawl_cpu(db, url, expect=("pages_not_modified", 1)))
    baseline = statistics.median(changed)
    return [
        _row("unchanged scheduled check (a warm crawl worker's conditional GET, 304)",
             baseline, statistics.median(checked), f"≤ {TARGET:g}× its cost", TARGET),
        _row("unchanged `topicwatch crawl` (304 inside a crawl process)",
             baseline, statistics.median(crawled), "informational", None),
    ]  # fmt: skip


def _changed_front_page(articles: list[Any], number: int) -> list[Any]:
    """A new article on top and the (previous) top article's headline edited."""
    arrival = listing_articles(1, start=100_000 + number)[0]
    edited = replace(articles[0], headline=articles[0].headline + f"(更新{number})")
    return [arrival, edited, *articles[1:]]


def _crawl_cpu(db: Path, url: str, *args: str, expect: tuple[str, int] | None = None) -> float:
    """CPU seconds of one ``topicwatch crawl`` child, start-up included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = topicwatch_crawl(url, db, SETTINGS, *args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if expect is not None and run[expect[0]] != expect[1]:
        raise RuntimeError(f"expected {expect[0]}={expect[1]}, got {run}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _check_cpu(worker: WarmWorker, db: Path, url: str) -> float:
    """CPU seconds of the daemon's scheduled check of an unchanged page: an order to a
    warm worker, whose run must be a 304 one (the mean of :data:`CHECKS` orders)."""
    before = worker.cpu_seconds()
    answers = [worker.check(url) for _ in range(CHECKS)]
    seconds = (worker.cpu_seconds() - before) / CHECKS
    for answer in answers:
        if answer.get("status") != "ok" or _not_modified(db, answer.get("run_id")) != 1:
            raise RuntimeError(f"the unchanged check was not a 304 run: {answer}")
    return seconds


def _not_modified(db: Path, run_id: object) -> int:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT pages_not_modified FROM crawl_runs WHERE id = ?", [run_id])
        return int(row.fetchone()[0])
    finally:
        conn.close()


def _row(what: str, baseline: float, measured: float, target: str, limit: float | None) -> Row:
    ratio = measured / baseline
    return Row(
        what,
        f"re-crawl of a changed page {baseline * 1000:.0f} ms CPU",
        f"{measured * 1000:.1f} ms CPU",
        ratio,
        target,
        limit is None or ratio <= limit,
    )
