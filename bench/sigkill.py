"""SIGKILL a crawl at random moments of its archive write; the archive must survive whole.

Each iteration publishes a fresh batch of articles on page 1 (the previous batch moves to
page 2, older ones scroll away), so every crawl commits hundreds of new items (items,
versions, changes, listing, snapshots, the search index's triggers) and no vanish. A
Scrapy extension in the crawl child (:class:`CommitMarks`) notes when the pipeline's
commit begins and ends; the parent waits for the start mark, sleeps a random delay drawn
over the measured commit time (and a little past it), and sends SIGKILL.

After every kill: ``PRAGMA integrity_check`` is ok, and the killed run is wholly in the
archive (status ok and exactly its batch: items, versions, changes, listing) or wholly
absent (still ``running``, not one of its rows or items). Then an ordinary crawl must
succeed, close the leftover row as aborted, and report exactly the changes still owed.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.children import child_env, setting_args
from bench.report import Row, log
from topicwatch.crawler.settings import EXTENSIONS

ROOT = Path(__file__).parents[1]
BATCH = 400
MARKS_SETTING = "SIGKILL_BENCH_MARKS"
SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "TOPICWATCH_ENRICH": "False",
    "LOG_LEVEL": "ERROR",
    "EXTENSIONS": json.dumps({**EXTENSIONS, "bench.sigkill.CommitMarks": 0}),
}
NOTES = """\
Each iteration archives a fresh batch of 400 new items (page 1 of 2) in one crawl child
and SIGKILLs it at a random moment between the start of the pipeline's commit and 1.3×
the last measured commit (marks written by a Scrapy extension in the child), then checks
`PRAGMA integrity_check`, that the killed run is wholly present or wholly absent, and
that the next ordinary crawl succeeds with exactly the changes still owed. "Mid-write":
the commit's end mark was not written; "just after": it was. `pytest -m slow` runs the
same 50 iterations; CI runs 5."""


# --------------------------------------------------------------------------- in the child


class CommitMarks:
    """Write ``start`` and ``end`` around the archive pipeline's commit to a marks file,
    from the pipeline's own signals either side of it (:mod:`crawler.runs`)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def from_crawler(cls, crawler: Any) -> CommitMarks:
        from scrapy.exceptions import NotConfigured

        from topicwatch.crawler.runs import run_committing, run_recorded

        path = crawler.settings.get(MARKS_SETTING)
        if not path:
            raise NotConfigured(MARKS_SETTING)
        marks = cls(path)
        crawler.signals.connect(marks.start, signal=run_committing)
        crawler.signals.connect(marks.end, signal=run_recorded)
        return marks

    def start(self, **_: Any) -> None:
        self._mark("start")

    def end(self, **_: Any) -> None:
        self._mark("end")

    def _mark(self, name: str) -> None:
        with open(self.path, "a", encoding="utf-8") as marks:
            marks.write(f"{name} {time.monotonic()}\n")


# --------------------------------------------------------------------------- in the parent


@dataclass(frozen=True)
class Outcome:
    """One killed crawl: whether the commit had finished, and whether all checks held."""

    killed_after: float  # seconds after the commit began
    committed: bool  # the killed run is in the archive (it finished before the kill)
    inside_write: bool  # the kill landed between the commit's start and end marks
    problems: tuple[str, ...]

    @property
    def consistent(self) -> bool:
        return not self.problems


def marks(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").split("\n")
    return {name: float(at) for name, _, at in (line.partition(" ") for line in lines) if at}


def crawl_command(url: str, db: Path, marks_file: Path) -> list[str]:
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", url, "--db", str(db), "--json"]
    return command + setting_args({**SETTINGS, MARKS_SETTING: str(marks_file)})


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout}s")
        time.sleep(0.005)
    return value


class Bench:
    """A fixture site serving one big page and an archive in ``workdir``."""

    def __init__(self, workdir: Path, seed: int | None = None) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        from fixture_site import FixtureSite

        self.site = FixtureSite(topics={"nato": []})
        self.site.conditional = False
        self.site.per_page = BATCH
        self.previous: list[Any] = []
        self.workdir = workdir
        self.db = workdir / "archive.db"
        self.random = random.Random(seed)
        self.batches = 0
        self.commit = 0.0  # seconds the last unkilled commit of a batch took

    def __enter__(self) -> Bench:
        self.site.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.site.stop()

    def publish(self) -> list[str]:
        """A fresh batch on page 1, the last one on page 2; return the new article URLs."""
        from fixture_site import make_articles

        articles = make_articles(BATCH, start=self.batches * BATCH + 1)
        self.batches += 1
        self.site.set_listing("nato", articles + self.previous)
        self.previous = articles
        return [self.site.article_url(article.slug) for article in articles]

    def crawl(self, kill_after: float | None = None) -> tuple[int, dict[str, float]]:
        """Run one crawl; with ``kill_after``, SIGKILL it that long after its commit began."""
        marks_file = self.workdir / f"marks-{self.batches}-{kill_after is not None}"
        marks_file.unlink(missing_ok=True)
        command = crawl_command(self.site.topic_url(), self.db, marks_file)
        child = subprocess.Popen(
            command, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if kill_after is not None:
            try:
                wait_for(lambda: "start" in marks(marks_file), 60, "commit start mark")
                time.sleep(kill_after)  # a random kill moment, not synchronisation
            finally:
                child.send_signal(signal.SIGKILL)
        return child.wait(120), marks(marks_file)

    def calibrate(self) -> float:
        """Two unkilled crawls (the second as every iteration's); its commit's seconds."""
        for _ in range(2):
            self.publish()
            code, seen = self.crawl()
            if code != 0:
                raise RuntimeError(f"calibration crawl exited {code}")
        self.commit = seen["end"] - seen["start"]
        return self.commit

    def iterate(self) -> Outcome:
        """Kill one crawl at a random moment over 1.3× the last commit's time, then check."""
        urls = self.publish()
        kill_after = self.random.uniform(0, 1.3 * self.commit)
        _, seen = self.crawl(kill_after)
        inside = "end" not in seen
        problems = check_killed(self.db, urls)
        committed = run_status(self.db) == "ok"
        code, seen = self.crawl()
        if not committed and "end" in seen:  # the commit grows with the archive: follow it
            self.commit = seen["end"] - seen["start"]
        problems += check_next(self.db, urls, owed=0 if committed else len(urls), code=code)
        return Outcome(kill_after, committed, inside, tuple(problems))


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


def run_status(db: Path, offset: int = 0) -> str:
    rows = query(db, "SELECT status FROM crawl_runs ORDER BY id DESC LIMIT 1 OFFSET ?", (offset,))
    return str(rows[0][0])


def check_killed(db: Path, urls: list[str]) -> list[str]:
    """Integrity, and the killed (latest) run wholly present or wholly absent."""
    problems = []
    integrity = query(db, "PRAGMA integrity_check")
    if integrity != [("ok",)]:
        problems.append(f"integrity_check: {integrity[:3]}")
    run_id, status = query(db, "SELECT id, status FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]
    places = ",".join("?" * len(urls))
    held = query(db, f"SELECT count(*) FROM items WHERE url IN ({places})", tuple(urls))[0][0]
    counts = {
        table: query(db, f"SELECT count(*) FROM {table} WHERE run_id = ?", (run_id,))[0][0]
        for table in ("changes", "item_versions", "listings")
    }
    if status == "ok":
        expected = {"changes": len(urls), "item_versions": len(urls), "listings": 1}
        if held != len(urls) or counts != expected:
            problems.append(f"run {run_id} ok but partial: {held} items, {counts}")
    elif status == "running":
        if held or any(counts.values()):
            problems.append(f"run {run_id} absent but left {held} items, {counts}")
    else:
        problems.append(f"run {run_id} has status {status}")
    return problems


def check_next(db: Path, urls: list[str], owed: int, code: int) -> list[str]:
    """The crawl after a kill: ok, exactly the owed changes, the leftover row aborted."""
    row = query(
        db,
        "SELECT status, items_new, items_edited, items_vanished FROM crawl_runs"
        " ORDER BY id DESC LIMIT 1",
    )[0]
    problems = []
    if code != 0 or row != ("ok", owed, 0, 0):
        problems.append(f"next crawl: exit {code}, (status, new, edited, vanished) = {row}")
    if owed and run_status(db, offset=1) != "aborted":
        problems.append(f"leftover run not aborted: {run_status(db, offset=1)}")
    if query(db, "SELECT count(*) FROM crawl_runs WHERE status = 'running'") != [(0,)]:
        problems.append("a run is still recorded as running")
    places = ",".join("?" * len(urls))
    archived = query(db, f"SELECT count(*) FROM items WHERE url IN ({places})", tuple(urls))
    if archived != [(len(urls),)]:
        problems.append("the batch is not all archived after the next crawl")
    return problems


def kill_loop(
    iterations: int, workdir: Path, seed: int | None = None
) -> tuple[float, list[Outcome]]:
    """Calibrate, then kill ``iterations`` crawls mid-write; (commit seconds, outcomes)."""
    with Bench(workdir, seed) as bench:
        commit = bench.calibrate()
        return commit, [bench.iterate() for _ in range(iterations)]


def run(quick: bool) -> list[Row]:
    iterations = 5 if quick else 50
    with tempfile.TemporaryDirectory() as workdir:
        commit, outcomes = kill_loop(iterations, Path(workdir))
    inside = sum(o.inside_write for o in outcomes)
    committed = sum(o.committed for o in outcomes)
    consistent = sum(o.consistent for o in outcomes)
    for outcome in outcomes:
        if not outcome.consistent:
            log(f"inconsistent after a kill at +{outcome.killed_after:.3f}s: {outcome.problems}")
    return [
        Row(
            f"SIGKILL at a random moment of the archive write ({iterations} runs)",
            f"commit of {BATCH} new items {commit * 1e3:.0f} ms",
            f"{inside} killed mid-write, {iterations - inside} just after;"
            f" {committed} runs wholly present, {iterations - committed} wholly absent",
            consistent / iterations,
            "all consistent",
            consistent == iterations,
        )
    ]
