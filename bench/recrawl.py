"""What a scheduled check costs when the topic page has not changed (304) vs when it has.

A topic of five listing pages is crawled once; then, round after round, the site changes
page 1 (one new article on top, one headline edited) and the topic is re-crawled, then
checked again with nothing changed, so page 1 answers 304 to the stored validators.

* The changed re-crawl is ``topicwatch crawl`` in its own child process, as the daemon
  runs it (enrichment on: it fetches the new and the edited item's article pages).
* The unchanged check is what the daemon does before starting a crawl
  (:func:`crawler.probe.record_if_unchanged`: robots.txt, one conditional GET, the run
  recorded through the archive's commit), in this process.
* For comparison, ``topicwatch crawl`` of the unchanged page: the 304 handled by Scrapy.

The cost is CPU time (user + system): ``resource.getrusage(RUSAGE_CHILDREN)`` for a child
process, start-up and imports included, ``time.process_time`` for the in-process check.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.children import topicwatch_crawl
from bench.report import Row, log
from bench.static_site import listing_articles, static_site
from topicwatch.daemon.probe import probe_policy, record_if_unchanged

TARGET = 0.1
PAGES = 5

SETTINGS = {"DOWNLOAD_DELAY": "0", "LOG_LEVEL": "WARNING"}

NOTES = """\
A five-page topic (100 items) on a private nginx; after a first full crawl, rounds of
(1) page 1 changed (one new article on top, one headline edited, article pages served),
then `topicwatch crawl` in a child process (reads page 1, meets known items, stops,
enriches the 2 items); (2) nothing changed: the daemon's check before a crawl
(`crawler.probe`: robots.txt, a conditional GET answered 304, the not-modified run
committed through `archive.store.commit_run`, no crawl process); (3) nothing changed,
`topicwatch crawl` anyway (Scrapy gets the 304). Settings are the project's but
`DOWNLOAD_DELAY=0`. Cost is CPU time (user + system; a child's start-up and imports
included), median over the rounds. Most of a crawl process's cost is fixed (interpreter,
Scrapy's imports, the engine): a 304 inside Scrapy saves the page transfer, extraction,
article fetches and writes but not that, which is why the daemon checks first."""


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
        for number in range(1, rounds + 1):
            articles = _changed_front_page(articles, number)
            site.write_articles(articles[:2])
            site.write_listing(articles, PAGES)
            changed.append(_crawl_cpu(db, url, expect=("items_new", 1)))
            checked.append(_check_cpu(db, url))
            crawled.append(_crawl_cpu(db, url, expect=("pages_not_modified", 1)))
    baseline = statistics.median(changed)
    return [
        _row("unchanged scheduled check (the daemon's 304 probe, no crawl process)",
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


def _check_cpu(db: Path, url: str) -> float:
    """CPU seconds of the daemon's check of an unchanged page, in this process."""
    policy = probe_policy(SETTINGS)
    started = time.process_time()
    run: dict[str, Any] | None = record_if_unchanged(
        str(db), "nato", url, policy, started_at=_now(), now=_now
    )
    seconds = time.process_time() - started
    if run is None or run["pages_not_modified"] != 1:
        raise RuntimeError(f"the unchanged check did not record a 304 run: {run}")
    return seconds


def _now() -> datetime:
    return datetime.now(UTC)


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
