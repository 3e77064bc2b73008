"""Commit one successful run's listing: items, versions, changes, sightings, validators.

Everything a run writes happens in one short ``BEGIN IMMEDIATE`` transaction at its end,
so the run is wholly in the archive or wholly absent, whatever kills the process.
Bulk statements (``executemany``) keep it cheap: most runs only re-sight known items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlite_utils

from archive.changes import Classification, KnownItem, ListedItem, Sighting, classify, dedupe
from archive.clock import iso
from archive.db import write_transaction
from archive.queries import recent_first_page_counts
from archive.runs import end_run_without_changes
from archive.search_index import index_run
from archive.snapshots import Fetch, record_fetches, save_fetches
from archive.text import content_hash
from archive.verdict import layout_failure

_CHUNK = 500


@dataclass(frozen=True)
class PageResult:
    """One listing page as fetched: parsed sightings, or 304 (``not_modified``)."""

    url: str
    page: int
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    sightings: tuple[Sighting, ...] = ()


@dataclass(frozen=True)
class RunReport:
    """What the crawler hands over at the end of a run.

    ``aliases`` maps a listing URL to the article's own canonical URL (rel=canonical);
    ``articles_fetched``/``articles_failed`` count article enrichment.
    """

    pages: tuple[PageResult, ...]
    gap_suspected: bool = False
    coverage: dict[str, float] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    articles_fetched: int = 0
    articles_failed: int = 0
    fetches: tuple[Fetch, ...] = ()
    extractor_version: str = ""


@dataclass(frozen=True)
class RunSummary:
    """The counts of a committed run, as printed by ``topicwatch crawl``."""

    run_id: int
    status: str
    pages: int
    items_seen: int
    items_new: int
    items_edited: int
    items_vanished: int
    items_reappeared: int
    error: str | None = None


def commit_run(
    db: sqlite_utils.Database, run_id: int, report: RunReport, finished_at: datetime
) -> RunSummary:
    """Classify the run's listing and write it, or fail the run if the layout guard trips."""
    first = report.pages[0] if report.pages else None
    first_page_items = None if first is None or first.not_modified else len(first.sightings)
    topic_id = _topic_of(db, run_id)
    reason = layout_failure(first_page_items, recent_first_page_counts(db, topic_id))
    if reason is not None:
        end_run_without_changes(
            db,
            run_id,
            status="failed",
            reason="layout",
            error=reason,
            finished_at=finished_at,
            pages=len(report.pages),
        )
        save_fetches(db, run_id, report.fetches)  # the pages that failed, as evidence
        return RunSummary(run_id, "failed", len(report.pages), 0, 0, 0, 0, 0, reason)
    with write_transaction(db):
        snapshots = record_fetches(db, run_id, report.fetches)
        _write_aliases(db, report.aliases, iso(finished_at))
        sightings = _resolve_aliases(db, _expand_not_modified(db, report.pages))
        result = classify(sightings, _known_items(db, sightings), _listed_items(db, topic_id))
        now = iso(finished_at)
        ids = _write_items(db, run_id, result, now)
        page_snapshots = {page.page: snapshots.get(page.url) for page in report.pages}
        _write_versions(db, run_id, result, ids, page_snapshots, report.extractor_version, now)
        _write_listing(db, topic_id, run_id, dedupe(sightings), ids, result, now)
        _write_validators(db, topic_id, report.pages, now)
        summary = _finish(db, run_id, report, first_page_items, len(ids), result, now)
    return summary


def _topic_of(db: sqlite_utils.Database, run_id: int) -> int:
    return int(db.execute("SELECT topic_id FROM crawl_runs WHERE id = ?", [run_id]).fetchone()[0])


def _expand_not_modified(db: sqlite_utils.Database, pages: Sequence[PageResult]) -> list[Sighting]:
    """The run's listing in order, with a 304 page standing for the items it held last time.

    Positions are renumbered over the whole listing so they rank items within the topic.
    """
    ordered: list[Sighting] = []
    for page in pages:
        if page.not_modified:
            ordered.extend(_stored_page(db, page))
        else:
            ordered.extend(page.sightings)
    return [
        s if s.position == position else replace(s, position=position)
        for position, s in enumerate(ordered, start=1)
    ]


def _stored_page(db: sqlite_utils.Database, page: PageResult) -> list[Sighting]:
    row = db.execute("SELECT item_urls FROM listing_pages WHERE url = ?", [page.url]).fetchone()
    urls: list[str] = json.loads(row[0]) if row else []
    return [Sighting(url, "", "", "", 0, page.page) for url in urls]


def _write_aliases(db: sqlite_utils.Database, aliases: dict[str, str], now: str) -> None:
    db.conn.executemany(
        "INSERT INTO url_aliases (alias, url, seen_at) VALUES (?, ?, ?)"
        " ON CONFLICT (alias) DO UPDATE SET url = excluded.url, seen_at = excluded.seen_at",
        [(alias, url, now) for alias, url in aliases.items() if alias != url],
    )


def _resolve_aliases(db: sqlite_utils.Database, sightings: list[Sighting]) -> list[Sighting]:
    """Listing URLs that an article's rel=canonical named otherwise become that URL."""
    canonical: dict[str, str] = {}
    for chunk in _chunks(sorted({s.url for s in sightings})):
        marks = ",".join("?" * len(chunk))
        canonical.update(
            db.execute(f"SELECT alias, url FROM url_aliases WHERE alias IN ({marks})", chunk)
        )
    return [replace(s, url=canonical[s.url]) if s.url in canonical else s for s in sightings]


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _known_items(db: sqlite_utils.Database, sightings: Sequence[Sighting]) -> dict[str, KnownItem]:
    urls = sorted({s.url for s in sightings})
    known = {}
    for chunk in _chunks(urls):
        marks = ",".join("?" * len(chunk))
        for item_id, url, headline, summary, digest in db.execute(
            f"SELECT id, url, headline, summary, content_hash FROM items WHERE url IN ({marks})",
            list(chunk),
        ):
            known[url] = KnownItem(item_id, url, headline, summary, digest)
    return known


def _listed_items(db: sqlite_utils.Database, topic_id: int) -> list[ListedItem]:
    """Items the topic's previous run listed (with their positions then), and vanished ones.

    Positions are only comparable within one run: an item last seen three runs ago on a
    page that later runs did not read has a stale position, so it is neither evidence for
    nor a candidate of a retraction until a run sees it again.
    """
    # Two halves, each found in the index topic_items_listed (an OR would read every item
    # the topic ever listed); sorted in Python, so that SQLite keeps to that index.
    select = (
        "SELECT t.item_id, i.url, t.last_position, t.vanished_at IS NOT NULL"
        " FROM topic_items t JOIN items i ON i.id = t.item_id WHERE t.topic_id = ?1"
    )
    rows = db.execute(
        f"{select} AND t.vanished_at IS NULL AND t.last_listed_at = (SELECT max(last_listed_at)"
        " FROM topic_items WHERE topic_id = ?1 AND vanished_at IS NULL)"
        f" UNION ALL {select} AND t.vanished_at IS NOT NULL",
        [topic_id],
    )
    return [ListedItem(item_id, url, pos, bool(gone)) for item_id, url, pos, gone in sorted(rows)]


def _write_items(
    db: sqlite_utils.Database, run_id: int, result: Classification, now: str
) -> dict[str, int]:
    """Insert new items, update edited ones, re-sight the rest; return url -> item id."""
    db.conn.executemany(
        "INSERT INTO items (url, headline, summary, published_at, tags, first_seen_at,"
        " last_seen_at, version, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
        [
            (
                s.url,
                s.headline,
                s.summary,
                s.published_at,
                json.dumps(list(s.tags), ensure_ascii=False),
                now,
                now,
                content_hash(s.headline, s.summary),
            )
            for s in result.new
        ],
    )
    ids = _ids_for(db, [s.url for s in result.new])
    ids.update({e.known.url: e.known.item_id for e in result.edited})
    unchanged_ids = _ids_for(db, [s.url for s in result.unchanged])
    ids.update(unchanged_ids)
    db.conn.executemany(
        "UPDATE items SET headline = ?, summary = ?, content_hash = ?, version = version + 1,"
        " last_seen_at = ? WHERE id = ?",
        [
            (e.headline, e.summary, content_hash(e.headline, e.summary), now, e.known.item_id)
            for e in result.edited
        ],
    )
    resighted = [(e.sighting, e.known.item_id) for e in result.edited]
    resighted += [(s, unchanged_ids[s.url]) for s in result.unchanged]
    db.conn.executemany(
        "UPDATE items SET last_seen_at = ?1,"
        " published_at = CASE WHEN published_at = '' THEN ?2 ELSE published_at END,"
        " tags = CASE WHEN ?3 = '[]' THEN tags ELSE ?3 END WHERE id = ?4",
        [
            (now, s.published_at, json.dumps(list(s.tags), ensure_ascii=False), item_id)
            for s, item_id in resighted
        ],
    )
    _write_changes(db, run_id, result, ids, now)
    return ids


def _ids_for(db: sqlite_utils.Database, urls: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _chunks(list(urls)):
        marks = ",".join("?" * len(chunk))
        ids.update(db.execute(f"SELECT url, id FROM items WHERE url IN ({marks})", list(chunk)))
    return ids


def _write_versions(
    db: sqlite_utils.Database,
    run_id: int,
    result: Classification,
    ids: dict[str, int],
    page_snapshots: dict[int, int | None],
    extractor_version: str,
    now: str,
) -> None:
    """Copy new and edited items' latest state into ``item_versions`` (full copies, not
    diffs), each naming its evidence (the listing page snapshot it was read from), and
    index them for search."""
    changed = [(ids[s.url], s.page) for s in result.new]
    changed += [(e.known.item_id, e.sighting.page) for e in result.edited]
    db.conn.executemany(
        "INSERT INTO item_versions (item_id, version, headline, summary, observed_at, run_id,"
        " content_hash, snapshot_id, extractor_version) SELECT id, version, headline, summary,"
        " ?, ?, content_hash, ?, ? FROM items WHERE id = ?",
        [
            (now, run_id, page_snapshots.get(page), extractor_version, item_id)
            for item_id, page in sorted(changed)
        ],
    )
    index_run(db, run_id)


def _write_changes(
    db: sqlite_utils.Database,
    run_id: int,
    result: Classification,
    ids: dict[str, int],
    now: str,
) -> None:
    rows = [(run_id, ids[s.url], "new", now, "") for s in result.new]
    rows += [(run_id, e.known.item_id, "edited", now, ",".join(e.fields)) for e in result.edited]
    rows += [(run_id, i.item_id, "vanished", now, "") for i in result.vanished]
    rows += [(run_id, i.item_id, "reappeared", now, "") for i in result.reappeared]
    db.conn.executemany(
        "INSERT INTO changes (run_id, item_id, kind, at, fields, version)"
        " VALUES (?1, ?2, ?3, ?4, ?5, (SELECT version FROM items WHERE id = ?2))",
        rows,
    )


def _write_listing(
    db: sqlite_utils.Database,
    topic_id: int,
    run_id: int,
    sightings: Sequence[Sighting],
    ids: dict[str, int],
    result: Classification,
    now: str,
) -> None:
    """Update which items the topic lists, and keep the ordered listing when it changed."""
    db.conn.executemany(
        "INSERT INTO topic_items (topic_id, item_id, first_listed_at, last_listed_at,"
        " last_position, last_page) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (topic_id, item_id) DO UPDATE SET last_listed_at = excluded.last_listed_at,"
        " last_position = excluded.last_position, last_page = excluded.last_page,"
        " vanished_at = NULL",
        [(topic_id, ids[s.url], now, now, s.position, s.page) for s in sightings],
    )
    db.conn.executemany(
        "UPDATE topic_items SET vanished_at = ? WHERE topic_id = ? AND item_id = ?",
        [(now, topic_id, item.item_id) for item in result.vanished],
    )
    entries = [(s.position, s.page, ids[s.url]) for s in sightings]
    digest = hashlib.sha1(json.dumps(entries).encode()).hexdigest()
    previous = db.execute(
        "SELECT listing_hash FROM listings WHERE topic_id = ? ORDER BY id DESC LIMIT 1",
        [topic_id],
    ).fetchone()
    if previous is not None and previous[0] == digest:
        return
    cursor = db.execute(
        "INSERT INTO listings (topic_id, run_id, observed_at, listing_hash) VALUES (?, ?, ?, ?)",
        [topic_id, run_id, now, digest],
    )
    db.conn.executemany(
        "INSERT INTO listing_entries (listing_id, position, page, item_id) VALUES (?, ?, ?, ?)",
        [(cursor.lastrowid, *entry) for entry in entries],
    )


def _write_validators(
    db: sqlite_utils.Database, topic_id: int, pages: Sequence[PageResult], now: str
) -> None:
    """Remember each parsed page's validators and items, for the next conditional GET."""
    db.conn.executemany(
        "INSERT INTO listing_pages (url, topic_id, page, etag, last_modified, item_urls,"
        " fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET"
        " topic_id = excluded.topic_id, page = excluded.page, etag = excluded.etag,"
        " last_modified = excluded.last_modified, item_urls = excluded.item_urls,"
        " fetched_at = excluded.fetched_at",
        [
            (
                p.url,
                topic_id,
                p.page,
                p.etag,
                p.last_modified,
                json.dumps([s.url for s in dedupe(p.sightings)], ensure_ascii=False),
                now,
            )
            for p in pages
            if not p.not_modified
        ],
    )
    db.conn.executemany(
        "UPDATE listing_pages SET fetched_at = ? WHERE url = ?",
        [(now, p.url) for p in pages if p.not_modified],
    )


def _finish(
    db: sqlite_utils.Database,
    run_id: int,
    report: RunReport,
    first_page_items: int | None,
    items_seen: int,
    result: Classification,
    now: str,
) -> RunSummary:
    counts = {
        "pages": len(report.pages),
        "pages_not_modified": sum(p.not_modified for p in report.pages),
        "articles_fetched": report.articles_fetched,
        "articles_failed": report.articles_failed,
        "items_seen": items_seen,
        "items_new": len(result.new),
        "items_edited": len(result.edited),
        "items_vanished": len(result.vanished),
        "items_reappeared": len(result.reappeared),
    }
    db.execute(
        "UPDATE crawl_runs SET status = 'ok', finished_at = :now, pages = :pages,"
        " pages_not_modified = :pages_not_modified, items_seen = :items_seen,"
        " items_new = :items_new, items_edited = :items_edited,"
        " items_vanished = :items_vanished, items_reappeared = :items_reappeared,"
        " articles_fetched = :articles_fetched, articles_failed = :articles_failed,"
        " first_page_items = :first, gap_suspected = :gap, headline_coverage = :headline,"
        " summary_coverage = :summary, date_coverage = :date, extractor_version = :extractor"
        " WHERE id = :run_id",
        {
            **counts,
            "now": now,
            "first": first_page_items,
            "gap": int(report.gap_suspected),
            "headline": report.coverage.get("headline"),
            "summary": report.coverage.get("summary"),
            "date": report.coverage.get("published_at"),
            "extractor": report.extractor_version,
            "run_id": run_id,
        },
    )
    return RunSummary(
        run_id=run_id,
        status="ok",
        pages=counts["pages"],
        items_seen=items_seen,
        items_new=counts["items_new"],
        items_edited=counts["items_edited"],
        items_vanished=counts["items_vanished"],
        items_reappeared=counts["items_reappeared"],
    )
