"""A synthetic year of crawls, written through the crawl's own write path, for the search bench.

:func:`build` replays scheduled runs of three topics over a year: each run lists
:data:`PAGES` pages of 20 cards, newest first; new articles arrive on top, some cards
already listed come back with a changed headline or summary (an edit; about one per
article), a few are retracted (vanished) and some of those return (reappeared), 5 % of
articles are listed by a second topic, and a few runs fail. Every run goes through
:func:`archive.runs.begin_run` and :func:`archive.store.commit_run` exactly as a crawl
hands over its pages, so items, versions, changes, sightings, listings and the search
index are what the service writes, however the store maintains them. Page bodies are not
stored (search and changes never read them): no run has fetches or snapshots.

Texts come from :mod:`bench.search_texts`. Building takes minutes at 1M items, so
:func:`cached_archive` keeps the file under the system temp directory
(``$TMPDIR/topicwatch-bench/``), keyed by size, generator version and schema version.
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils

from bench.search_texts import TextStream
from topicwatch.archive import open_archive
from topicwatch.archive.changes import Sighting
from topicwatch.archive.daemon_state import pid_alive
from topicwatch.archive.runs import begin_run, end_run_without_changes
from topicwatch.archive.schema import SCHEMA_VERSION
from topicwatch.archive.store import PageResult, RunReport, commit_run

GENERATOR_VERSION = 1
CACHE = Path(tempfile.gettempdir()) / "topicwatch-bench"
SEED = 7
BASE = "https://novaist.jp"
START = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 365
JST = timezone(timedelta(hours=9))
PAGES = 30  # read by every run
NEW_PAGES = 10  # of new articles a run finds
PER_PAGE = 20
TOPICS = (("nato", "NATO"), ("英国", "英国"), ("北極", "北極"))
CROSS_LISTED = 0.05
FAILED_RUNS = 0.005
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Built:
    """A built (or cached) archive: its file, its size and when it ends."""

    path: Path
    items: int
    versions: int
    runs: int
    end: datetime
    seconds: float
    cached: bool


@dataclass(frozen=True)
class Slot:
    """One scheduled run: which topic, when, how many new articles and edits."""

    topic: int
    at: datetime
    new: int
    edits: int
    may_fail: bool


def schedule(items: int, edits: int, days: int = DAYS) -> list[Slot]:
    """Runs spread evenly over ``days``, topics in turn, new articles and edits shared out."""
    runs = max(len(TOPICS) * 4, -(-items // (PER_PAGE * NEW_PAGES)))
    step = timedelta(days=days) / runs
    slots = []
    for number in range(runs):
        new = items * (number + 1) // runs - items * number // runs
        owed = 0 if number == 0 else edits * number // runs - edits * (number - 1) // runs
        last = number >= runs - len(TOPICS)  # a topic's last run never fails
        slots.append(Slot(number % len(TOPICS), START + step * number, new, owed, not last))
    return slots


@dataclass
class Topic:
    name: str
    tag: str
    url: str
    listing: deque[int]
    pending: list[int]  # cross-listed articles to appear on this topic's next run


class Generator:
    """Replays the runs; holds the text of articles that some topic may still list."""

    def __init__(self, db: sqlite_utils.Database, slots: list[Slot]) -> None:
        self.db = db
        self.slots = slots
        self.texts = TextStream(SEED, [(slot.new, slot.edits) for slot in slots])
        self.random = random.Random(SEED + 2)
        self.current: dict[int, tuple[str, str, str, str]] = {}  # url, headline, summary, date
        self.retracted: list[tuple[int, int]] = []  # (topic, article) that will return
        self.topics = [
            Topic(name, tag, f"{BASE}/articles/tag/{name}/", deque(), []) for name, tag in TOPICS
        ]
        self.articles = 0
        self.runs = 0

    def run_all(self, progress: Progress) -> None:
        for number, slot in enumerate(self.slots):
            self.one_run(slot)
            if number % 500 == 0:
                progress(f"search archive: run {number:,}/{len(self.slots):,}")
                self.forget()

    def one_run(self, slot: Slot) -> None:
        topic = self.topics[slot.topic]
        texts = self.texts.next()
        first = self.articles
        fresh = list(range(first, first + slot.new))
        self.articles += slot.new
        published = (slot.at - timedelta(minutes=30)).astimezone(JST).isoformat()
        for article, (headline, summary) in zip(fresh, texts.fresh, strict=True):
            url = f"{BASE}/articles/{topic.name}-{article:07d}/"
            self.current[article] = (url, headline, summary, published)
            if self.random.random() < CROSS_LISTED:
                other = (slot.topic + 1 + self.random.randrange(2)) % len(self.topics)
                self.topics[other].pending.append(article)
        self._reappear(slot.topic, topic)
        topic.listing.extendleft(reversed(fresh + topic.pending))
        topic.pending = []
        shown = list(topic.listing)[: PAGES * PER_PAGE]
        known = [article for article in shown if article < first]
        chosen = self.random.sample(known, min(slot.edits, len(known)))
        for article, rewrite in zip(chosen, texts.rewrites, strict=False):
            url, headline, summary, published = self.current[article]
            self.current[article] = (url, *rewrite.apply(headline, summary), published)
        self._retract(slot.topic, topic, shown, len(fresh))
        fail = slot.may_fail and self.random.random() < FAILED_RUNS
        self._commit(topic, slot.at, fail)
        while len(topic.listing) > PAGES * PER_PAGE:
            topic.listing.pop()

    def _retract(self, index: int, topic: Topic, shown: list[int], fresh: int) -> None:
        """Now and then a card listed last time disappears from the middle of the pages."""
        if self.random.random() < 0.1 and len(shown) > fresh + 10:
            article = shown[self.random.randrange(fresh + 1, len(shown) - 5)]
            topic.listing.remove(article)
            if self.random.random() < 0.3:
                self.retracted.append((index, article))

    def _reappear(self, index: int, topic: Topic) -> None:
        for entry in list(self.retracted):
            if entry[0] == index and self.random.random() < 0.3:
                self.retracted.remove(entry)
                topic.listing.insert(min(len(topic.listing), 40), entry[1])

    def _commit(self, topic: Topic, at: datetime, fail: bool) -> None:
        run_id = begin_run(
            self.db, topic=topic.name, url=topic.url, trigger="schedule", started_at=at, pid=1
        )
        finished = at + timedelta(seconds=12)
        self.runs += 1
        if fail:
            end_run_without_changes(
                self.db, run_id, status="failed", reason="http", finished_at=finished,
                error="HTTP 503 on page 1 after 3 retries", pages=1,
            )  # fmt: skip
            return
        shown = list(topic.listing)[: PAGES * PER_PAGE]
        pages = tuple(
            PageResult(
                topic.url if page == 1 else f"{topic.url}page/{page}/",
                page,
                sightings=tuple(
                    self._sighting(topic, article, position, page)
                    for position, article in enumerate(
                        shown[(page - 1) * PER_PAGE : page * PER_PAGE],
                        start=(page - 1) * PER_PAGE + 1,
                    )
                ),
            )
            for page in range(1, -(-len(shown) // PER_PAGE) + 1)
        )
        coverage = {"headline": 1.0, "summary": 1.0, "published_at": 1.0}
        commit_run(self.db, run_id, RunReport(pages, coverage=coverage), finished)

    def _sighting(self, topic: Topic, article: int, position: int, page: int) -> Sighting:
        url, headline, summary, published = self.current[article]
        return Sighting(url, headline, summary, published, position, page, (topic.tag,))

    def forget(self) -> None:
        """Drop the text of articles no topic lists any more (and none will bring back)."""
        alive = {a for t in self.topics for a in (*t.listing, *t.pending)}
        alive |= {article for _, article in self.retracted}
        self.current = {a: text for a, text in self.current.items() if a in alive}


def build(
    path: Path, items: int, edits: int, progress: Progress = lambda _: None, days: int = DAYS
) -> Built:
    """Write the synthetic archive to ``path`` (which must not exist yet)."""
    started = time.perf_counter()
    db = open_archive(path)
    slots = schedule(items, edits, days)
    generator = Generator(db, slots)
    generator.run_all(progress)
    versions = db.execute("SELECT count(*) FROM item_versions").fetchone()[0]
    count = db.execute("SELECT count(*) FROM items").fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    seconds = time.perf_counter() - started
    end = slots[-1].at + timedelta(seconds=12)
    return Built(path, count, versions, generator.runs, end, seconds, False)


def cached_archive(items: int, edits: int, progress: Progress = lambda _: None) -> Built:
    """The synthetic archive of this size, built on first use, else from the cache."""
    name = f"search-{items}i-{edits}e-g{GENERATOR_VERSION}-s{SCHEMA_VERSION}"
    path, meta = CACHE / f"{name}.db", CACHE / f"{name}.json"
    if path.exists() and meta.exists():
        data = json.loads(meta.read_text(encoding="utf-8"))
        data.update(path=path, end=datetime.fromisoformat(data["end"]), cached=True)
        return Built(**data)
    CACHE.mkdir(parents=True, exist_ok=True)
    # A scratch file of this process's own: two benches (two test suites) building at once
    # each build their own, and the atomic renames make either one the cached archive.
    scratch = path.with_suffix(f".building-{os.getpid()}")
    for stale in CACHE.glob(f"{name}.building-*"):
        builder = re.search(r"\.building-(\d+)", stale.name)
        if builder is None or not pid_alive(int(builder.group(1))):
            stale.unlink(missing_ok=True)  # left by a build that died (its -journal too)
    progress(f"search: building a {items:,}-item archive in {scratch} (cached for next time)")
    built = build(scratch, items, edits, progress)
    fresh_meta = meta.with_suffix(f".json-{os.getpid()}")
    fresh_meta.write_text(
        json.dumps({**asdict(built), "path": str(path), "end": built.end.isoformat()}),
        encoding="utf-8",
    )
    os.replace(scratch, path)
    os.replace(fresh_meta, meta)
    progress(f"search: built in {built.seconds:.0f} s: {built.versions:,} versions")
    return Built(**{**asdict(built), "path": path})
