"""``topicwatch reparse``: re-read stored listing snapshots with the current extractor.

Decoding follows the crawl exactly (w3lib's rules, as Scrapy's ``TextResponse``, then
the crawl's charset rules in crawler.charset), so a reparse with an unchanged extractor reads
exactly what the crawl read and plans nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils
from w3lib.encoding import html_to_unicode

from archive.reextract import (
    Reading,
    ReparsePlan,
    SnapshotFetch,
    apply_reparse,
    plan_reparse,
    resolve_url,
    snapshot_fetches,
)
from archive.snapshots import snapshot_body
from crawler import EXTRACTOR_VERSION
from crawler.charset import decode_page
from crawler.extract import Listing, extract_listing

Extractor = Callable[[str, str], Listing]


@dataclass(frozen=True)
class ReparseResult:
    pages: int
    plan: ReparsePlan
    run_id: int | None


def decode(body: bytes, content_type: str | None) -> str:
    """Text of a stored body, decoded as the crawl decoded it."""
    encoding, text = html_to_unicode(content_type, body)
    return decode_page(body, encoding, text).text


def readings(
    db: sqlite_utils.Database, fetches: list[SnapshotFetch], extract: Extractor
) -> Iterator[Reading]:
    """What ``extract`` reads from each stored listing page, item by item."""
    for fetch in fetches:
        text = decode(snapshot_body(db, fetch.snapshot_id), fetch.content_type)
        for entry in extract(text, fetch.url).entries:
            url = resolve_url(db, entry.url)
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
