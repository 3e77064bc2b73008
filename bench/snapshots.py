"""Snapshot storage per topic per month, compression choice, and reparse throughput.

A month at a 15-minute schedule is 2,880 runs; crawling them through Scrapy would take
half an hour, so the month is replayed in-process through the same extractor and the
same store the crawl uses (``extract_listing`` -> ``commit_run``), with the fixture
site's real page templates. The page changes a few times a day (new articles, edits);
every other run is a 304, as conditional GET makes it.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from bench.report import Row
from topicwatch.archive import open_archive
from topicwatch.archive.changes import Sighting
from topicwatch.archive.runs import begin_run
from topicwatch.archive.snapshots import Fetch
from topicwatch.archive.store import PageResult, RunReport, commit_run
from topicwatch.crawler import EXTRACTOR_VERSION
from topicwatch.crawler.extract import extract_listing
from topicwatch.crawler.reparse import reparse

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from fixture_site import (
    _ListingView,
    load_seed_articles,
    make_articles,
    render_article,
    render_listing,
)

BASE = "http://127.0.0.1:8000"
TOPIC_URL = f"{BASE}/articles/tag/nato/"
START = datetime(2026, 2, 1, tzinfo=UTC)

NOTES = """\
Storage: one topic crawled every 15 minutes for 30 days (2,880 runs) against the fixture
site's real templates, with 4 new articles and 2 edits a day; a run whose page did not
change is a 304 and stores no body. "raw" is the bytes of every distinct body fetched;
the archive keeps each once, gzip-compressed. Backups: snapshots live inside the archive
file, so the archive's backup (docs/operations.md) covers them.

Compression over the same distinct bodies (ratio = stored/raw, lower is better; time to
compress them all): the choice is gzip level 6 — on these 20–40 KiB pages it stores
smaller than zstd -3 and within a few percent of zstd -19 and xz, at a speed that does
not matter at a few bodies per run; it is in the standard library and any operator can
read a body with `gunzip`. (zstd figures need the `bench` extra.)"""


def _changes_at(run: int) -> tuple[int, int]:
    """(new articles, edits) at run N: 4 arrivals and 2 edits a day, spread out."""
    per_day = 96
    new = 1 if run % (per_day // 4) == 0 else 0
    edit = 1 if run % (per_day // 2) == per_day // 4 else 0
    return new, edit


def simulate_month(db: sqlite_utils.Database, runs: int) -> dict[str, int]:
    """Replay ``runs`` scheduled runs; return counts of bodies and bytes."""
    articles = load_seed_articles()
    fresh = iter(make_articles(runs // 20 + 10, start=1000))
    raw_bytes = bodies = 0
    for run in range(runs):
        now = START + timedelta(minutes=15 * run)
        new, edit = _changes_at(run)
        changed = run == 0 or new or edit
        if new:
            articles.insert(0, next(fresh))
        if edit:
            target = articles[run % 20]
            target.summary = target.summary[:-1] + ("。" if target.summary[-1] != "。" else "！")
        run_id = begin_run(db, topic="nato", url=TOPIC_URL, trigger="schedule",
                           started_at=now, pid=1)  # fmt: skip
        if changed:
            page, fetches = _fetched_page(articles, now, new_items=articles[: max(new, 0)])
            raw_bytes += sum(len(f.body or b"") for f in fetches)
            bodies += len(fetches)
        else:
            page = PageResult(TOPIC_URL, 1, not_modified=True)
            fetches = [Fetch("listing", TOPIC_URL, 1, now, 304)]
        commit_run(db, run_id, RunReport((page,), fetches=tuple(fetches),
                   extractor_version=EXTRACTOR_VERSION), now)  # fmt: skip
    return {"raw_bytes": raw_bytes, "bodies": bodies}


def _fetched_page(
    articles: list[Any], now: datetime, new_items: list[Any]
) -> tuple[PageResult, list[Fetch]]:
    view = _ListingView(BASE, "nato", articles[:20], 1, max(1, len(articles) // 20), True)
    body = render_listing(view).encode()
    listing = extract_listing(body.decode(), TOPIC_URL)
    sightings = tuple(
        Sighting(e.url, e.headline, e.summary, e.published_at, i, 1)
        for i, e in enumerate(listing.entries, start=1)
    )
    fetches = [Fetch("listing", TOPIC_URL, 1, now, 200, "text/html; charset=UTF-8", body=body)]
    fetches += [
        Fetch("article", f"{BASE}/articles/{a.slug}/", None, now, 200, "text/html",
              body=render_article(BASE, a).encode())
        for a in new_items
    ]  # fmt: skip
    return PageResult(TOPIC_URL, 1, sightings=sightings), fetches


def _compressors() -> dict[str, Callable[[bytes], bytes]]:
    found: dict[str, Callable[[bytes], bytes]] = {
        "gzip -6 (chosen)": lambda b: gzip.compress(b, 6, mtime=0),
        "gzip -9": lambda b: gzip.compress(b, 9, mtime=0),
        "bz2 -9": lambda b: bz2.compress(b, 9),
        "xz -6": lambda b: lzma.compress(b),
    }
    try:
        import zstandard

        for level in (3, 19):
            compressor = zstandard.ZstdCompressor(level=level)
            found[f"zstd -{level}"] = compressor.compress
    except ImportError:  # the bench extra is not installed: report gzip alone
        pass
    return found


def run(quick: bool) -> list[Row]:
    runs = 96 * (3 if quick else 30)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "month.db"
        db = open_archive(path)
        started = time.perf_counter()
        counts = simulate_month(db, runs)
        replay = time.perf_counter() - started
        stored = db.execute(
            "SELECT sum(stored_size), sum(size), count(*) FROM snapshots"
        ).fetchone()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        file_size = path.stat().st_size
        rows = _storage_rows(runs, counts, stored, file_size, replay)
        rows += _compression_rows(db)
        rows += _reparse_rows(db)
        db.close()
    return rows


def _storage_rows(
    runs: int, counts: dict[str, int], stored: tuple[Any, ...], size: int, replay: float
) -> list[Row]:
    per_month = 30 * 96 / runs
    stored_bytes, distinct_raw, snapshots = stored
    return [
        Row(
            f"snapshot storage, 1 topic, {runs} runs at 15 min (scaled to 30 days)",
            f"raw bodies fetched {counts['raw_bytes'] * per_month / 2**20:.1f} MiB",
            f"stored {stored_bytes * per_month / 2**20:.2f} MiB ({snapshots} snapshots)",
            stored_bytes / max(counts["raw_bytes"], 1),
            "informational",
            True,
        ),
        Row(
            "whole archive file per topic-month",
            f"distinct bodies uncompressed {distinct_raw * per_month / 2**20:.2f} MiB",
            f"{size * per_month / 2**20:.2f} MiB ({runs / replay:.0f} runs/s replayed)",
            size / max(distinct_raw, 1),
            "informational",
            True,
        ),
    ]


def _compression_rows(db: sqlite_utils.Database) -> list[Row]:
    bodies = [gzip.decompress(b) for (b,) in db.execute("SELECT body FROM snapshots")]
    raw = sum(len(b) for b in bodies)
    rows = []
    for name, compress in _compressors().items():
        started = time.perf_counter()
        size = sum(len(compress(b)) for b in bodies)
        seconds = time.perf_counter() - started
        rows.append(Row(f"compression: {name}", f"raw {raw / 2**20:.2f} MiB",
                        f"{size / 2**20:.2f} MiB in {seconds * 1e3:.0f} ms", size / raw,
                        "smallest practical", True))  # fmt: skip
    return rows


def _reparse_rows(db: sqlite_utils.Database) -> list[Row]:
    pages = db.execute(
        "SELECT count(*) FROM fetches WHERE kind = 'listing' AND status = 200"
    ).fetchone()[0]
    started = time.perf_counter()
    result = reparse(db, now=datetime.now(UTC), dry_run=True)
    seconds = time.perf_counter() - started
    return [
        Row(
            "reparse throughput (dry run over the month)",
            f"{pages} stored listing pages",
            f"{result.pages / seconds:.0f} pages/s, {len(result.plan.versions)} changes planned",
            seconds / max(result.pages, 1) * 1e3,
            "informational (ratio: ms/page)",
            True,
        )
    ]
