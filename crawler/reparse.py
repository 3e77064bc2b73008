"""``topicwatch reparse``: re-read stored listing snapshots with the current extractor.

Each stored page goes through the crawl's own path from bytes to observations
(:func:`crawler.observe.observe_listing`), and each run's readings keep the first
sighting of an item as the crawl does, so a reparse with an unchanged extractor reads
exactly what the crawl read and plans nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from topicwatch.archive.aliases import resolve_url
from topicwatch.archive.reparse import (
    Reading,
    ReparsePlan,
    SnapshotFetch,
    apply_reparse,
    plan_reparse,
    snapshot_fetches,
)
from topicwatch.archive.snapshots import snapshot_body
from topicwatch.crawler import EXTRACTOR_VERSION
from topicwatch.crawler.extract import extract_listing
from topicwatch.crawler.observe import Extractor, observe_listing


@dataclass(frozen=True)
class ReparseResult:
    pages: int
    plan: ReparsePlan
    run_id: int | None


def readings(
    db: sqlite_utils.Database, fetches: list[SnapshotFetch], extract: Extractor
) -> Iterator[Reading]:
    """What the crawl's path (with ``extract``) reads from each stored listing page, item
    by item; within one run an item's first sighting counts, as in the crawl."""
    seen: set[tuple[int, str]] = set()
    for fetch in fetches:
        body = snapshot_body(db, fetch.snapshot_id)
        observed = observe_listing(body, fetch.content_type, fetch.url, extract=extract)
        for entry in observed.entries:
            url = resolve_url(db, entry.url)
            if (fetch.run_id, url) not in seen:
                seen.add((fetch.run_id, url))
                yield Reading(fetch.run_id, url, entry.headline, entry.summary)


def reparse(
    db: sqlite_utils.Database,
    *,
    now: datetime,
    topic: str | None = None,
    since: datetime | None = None,
    dry_run: bool = False,
    extract: Extractor = extract_listing,
    extractor_version: str = EXTRACTOR_VERSION,
) -> ReparseResult:
    """Plan (and unless ``dry_run``, apply) a re-extraction of stored snapshots."""
    fetches = snapshot_fetches(db, topic=topic, since=since)
    plan = plan_reparse(db, list(readings(db, fetches, extract)))
    run_id = None
    if not dry_run:
        run_id = apply_reparse(db, plan, now=now, extractor_version=extractor_version, topic=topic)
    return ReparseResult(len(fetches), plan, run_id)
