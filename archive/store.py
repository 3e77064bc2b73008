"""Commit one successful run's listing: items, versions, changes, sightings, validators.

Everything a run writes happens in one short ``BEGIN IMMEDIATE`` transaction at its end,
so the run is wholly in the archive or wholly absent, whatever kills the process.
Bulk statements (``executemany``) keep it cheap: most runs only re-sight known items.
The rules themselves are pure functions (:mod:`archive.changes`, :mod:`archive.layout_guard`);
this module reads what they need, applies them in order and writes their verdicts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlite_utils

from topicwatch.archive.aliases import canonical_urls, resolve_url
from topicwatch.archive.batches import chunks
from topicwatch.archive.changes import (
    Classification,
    KnownItem,
    ListedItem,
    Sighting,
    accepted_aliases,
    classify,
    continuity,
    dedupe,
    identity_drift,
    same_text,
    settle_returns,
)
from topicwatch.archive.crawl_memory import listed_items, previous_ok_run, recent_first_page_counts
from topicwatch.archive.db import write_transaction
from topicwatch.archive.enrichment import Article, pending_count, record_attempts, with_article
from topicwatch.archive.layout_guard import Pace, continuity_failure, layout_failure
from topicwatch.archive.published import precision
from topicwatch.archive.runs import close_without_changes
from topicwatch.archive.search_index import index_run
from topicwatch.archive.snapshots import Fetch, record_fetches
from topicwatch.archive.text import content_hash, valid_unicode
from topicwatch.archive.timestamps import iso, parse_iso

RECENT_VERSIONS = 5  # a return to one of an item's last versions is alternation, not an edit


@dataclass(frozen=True)
class PageResult:
    """One listing page as fetched: parsed sightings, or unchanged (``not_modified``: a
    304, or the very body last parsed, to be read the same way).

    ``body_sha256`` and ``extraction`` name the body a parsed page was read from and how
    (``listing_pages``), so the next fetch of the same body can be known unchanged.
    """

    url: str
    page: int
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    sightings: tuple[Sighting, ...] = ()
    body_sha256: str | None = None
    extraction: str | None = None


@dataclass(frozen=True)
class RunReport:
    """What the crawler hands over at the end of a run.

    ``articles`` are the article pages read this run (enrichment), ``article_failures``
    maps a listing URL to why its page could not be read; ``partial`` says why the run
    stopped reading the listing early (a later page refused or failing), if it did;
    ``fields_cleaned`` counts card fields the extractor dropped, cleaned or truncated.
    """

    pages: tuple[PageResult, ...]
    gap_suspected: bool = False
    coverage: dict[str, float] = field(default_factory=dict)
    articles: tuple[Article, ...] = ()
    article_failures: dict[str, str] = field(default_factory=dict)
    fetches: tuple[Fetch, ...] = ()
    extractor_version: str = ""
    partial: str = ""
    fields_cleaned: int = 0
    stopped_looking: bool = False  # the page limit came while the crawl still wanted more


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
    items_filled: int = 0
    articles_fetched: int = 0
    articles_pending: int = 0
    notes: tuple[str, ...] = ()  # decisions worth a log line (ignored claims, drift)


class _Refused(Exception):
    """The layout guard refused the run: its reason, inside the run's transaction."""


def commit_run(
    db: sqlite_utils.Database, run_id: int, report: RunReport, finished_at: datetime
) -> RunSummary:
    """Classify the run's listing and write it, or fail the run if the layout guard trips."""
    now = iso(finished_at)
    with write_transaction(db):
        topic_id = _topic_of(db, run_id)
        try:
            return _commit(db, run_id, topic_id, report, now)
        except _Refused as refused:
            reason = str(refused)
            close_without_changes(db, run_id, "failed", "layout", reason, finished_at,
                                  len(report.pages))  # fmt: skip
            record_fetches(db, run_id, report.fetches)  # the pages that failed, as evidence
            return RunSummary(run_id, "failed", len(report.pages), 0, 0, 0, 0, 0, reason)


def _commit(
    db: sqlite_utils.Database, run_id: int, topic_id: int, report: RunReport, now: str
) -> RunSummary:
    first = report.pages[0] if report.pages else None
    first_page_items = None if first is None or first.not_modified else len(first.sightings)
    reason = layout_failure(first_page_items, recent_first_page_counts(db, topic_id))
    if reason is not None:
        raise _Refused(reason)
    listed = listed_items(db, topic_id)
    raw = dedupe(_expand_not_modified(db, report.pages))
    report = replace(report, articles=tuple(_valid_article(a) for a in report.articles))
    articles = {article.listing_url: article for article in report.articles}
    raw = [_valid(with_article(s, articles.get(s.url))) for s in raw]
    notes = _revise_aliases(db, {s.url: s for s in raw})
    claims = {a.listing_url: a.canonical_url for a in report.articles if a.canonical_url}
    notes += _claim_aliases(db, claims, raw, now)
    sightings = dedupe(_resolve_aliases(db, raw))
    result, drift = _classify(db, topic_id, sightings, listed)
    if drift:
        _write_aliases(db, drift, now, source="drift")
        notes.append(f"identity drift: {len(drift)} listed item(s) under new URLs kept as known")
        sightings = dedupe(_resolve_aliases(db, sightings))
        result, _ = _classify(db, topic_id, sightings, listed)
    stopped_looking = report.gap_suspected or report.stopped_looking or bool(report.partial)
    ours = _topic_urls(db, topic_id, sightings)
    new_dates = [s.published_at for s in sightings if s.url not in ours]
    shape = continuity(sightings, listed, new_dates, stopped_looking)
    reason = continuity_failure(shape, _pace(db, topic_id, listed, now))
    if reason is not None:
        raise _Refused(reason)
    if report.partial:  # the read was cut short: what it could not look for is not judged
        result.vanished = []
    snapshots = record_fetches(db, run_id, report.fetches)
    ids = _write_items(db, run_id, result, now)
    page_snapshots = {page.page: snapshots.get(page.url) for page in report.pages}
    _write_versions(db, run_id, result, ids, page_snapshots, report.extractor_version, now)
    _write_listing(db, topic_id, run_id, sightings, ids, result, now)
    _write_validators(db, topic_id, report.pages, now)
    _fill_unlisted(db, run_id, report.articles, {s.url for s in sightings}, report, now)
    ids.update(_ids_for(db, [resolve_url(db, a.listing_url) for a in report.articles]))
    record_attempts(
        db,
        {**ids, **{a: ids[u] for a, u in _aliases_of(db, ids).items()}},
        read=[a.listing_url for a in report.articles],
        failed=report.article_failures,
        new=[s.url for s in result.new],
        now=now,
    )
    return _finish(
        db, run_id, topic_id, report, first_page_items, len(sightings), result, now, notes
    )


def _topic_of(db: sqlite_utils.Database, run_id: int) -> int:
    return int(db.execute("SELECT topic_id FROM crawl_runs WHERE id = ?", [run_id]).fetchone()[0])


def _valid(sighting: Sighting) -> Sighting:
    """Text as SQLite can store it (one lone surrogate would fail the whole commit)."""
    texts = (sighting.url, sighting.headline, sighting.summary, sighting.published_at)
    if all(valid_unicode(text) is text for text in texts + sighting.tags):
        return sighting
    return replace(
        sighting,
        url=valid_unicode(sighting.url),
        headline=valid_unicode(sighting.headline),
        summary=valid_unicode(sighting.summary),
        published_at=valid_unicode(sighting.published_at),
        tags=tuple(valid_unicode(tag) for tag in sighting.tags),
    )


def _valid_article(article: Article) -> Article:
    return replace(
        article,
        headline=valid_unicode(article.headline),
        published_at=valid_unicode(article.published_at),
        tags=tuple(valid_unicode(tag) for tag in article.tags),
    )


def _classify(
    db: sqlite_utils.Database, topic_id: int, sightings: list[Sighting], listed: list[ListedItem]
) -> tuple[Classification, dict[str, str]]:
    """The run's changes, and the new URLs that are listed items under new links (drift)."""
    known = _known_items(db, [s.url for s in sightings])
    result = classify(sightings, known, listed)
    drift: dict[str, str] = {}
    if len(result.new) * 2 > len(sightings):  # mostly new: the links may have changed form
        absent = _listed_elsewhere(db, topic_id, {s.url for s in sightings})
        drift = identity_drift(result.new, len(sightings), absent)
    edited = [edit.known.item_id for edit in result.edited]
    return settle_returns(result, _recent_versions(db, edited), _marked(db, edited)), drift


def _listed_elsewhere(
    db: sqlite_utils.Database, topic_id: int, seen: set[str]
) -> dict[str, KnownItem]:
    """The topic's listed items this run did not see, whatever page they were last on."""
    rows = db.execute(
        "SELECT i.id, i.url, i.headline, i.summary, i.content_hash FROM topic_items AS t"
        " JOIN items AS i ON i.id = t.item_id WHERE t.topic_id = ? AND t.vanished_at IS NULL",
        [topic_id],
    )
    return {row[1]: KnownItem(*row) for row in rows if row[1] not in seen}


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


# ---------------------------------------------------------------------------- aliases


def _revise_aliases(db: sqlite_utils.Database, cards: dict[str, Sighting]) -> list[str]:
    """Drop aliases the listing contradicts: it shows the alias and its target as two
    cards of different texts (a wrong rel=canonical merged two articles)."""
    notes = []
    for alias, url in canonical_urls(db, cards).items():
        if url in cards and not same_text(cards[alias], cards[url]):
            db.execute("DELETE FROM url_aliases WHERE alias = ?", [alias])
            notes.append(f"alias {alias} -> {url} revised: the listing shows two articles")
    return notes


def _claim_aliases(
    db: sqlite_utils.Database, claims: dict[str, str], sightings: list[Sighting], now: str
) -> list[str]:
    """Write the article pages' rel=canonical claims the listing does not contradict."""
    if not claims:
        return []
    cards = {s.url: s for s in sightings}
    known = _known_items(db, list(claims) + list(claims.values()))
    accepted, ignored = accepted_aliases(claims, cards, known)
    _write_aliases(db, accepted, now, source="canonical")
    return [
        f"rel=canonical of {alias} names {url}, which the listing contradicts: ignored"
        for alias, url in ignored.items()
    ]


def _write_aliases(
    db: sqlite_utils.Database, aliases: dict[str, str], now: str, source: str
) -> None:
    db.conn.executemany(
        "INSERT INTO url_aliases (alias, url, seen_at, source) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (alias) DO UPDATE SET url = excluded.url, seen_at = excluded.seen_at,"
        " source = excluded.source",
        [(alias, url, now, source) for alias, url in aliases.items() if alias != url],
    )


def _resolve_aliases(db: sqlite_utils.Database, sightings: list[Sighting]) -> list[Sighting]:
    """Listing URLs known under another URL (rel=canonical, drift) become that URL."""
    canonical = canonical_urls(db, {s.url for s in sightings})
    return [replace(s, url=canonical[s.url]) if s.url in canonical else s for s in sightings]


def _aliases_of(db: sqlite_utils.Database, ids: dict[str, int]) -> dict[str, str]:
    """alias -> URL for the aliases of the given item URLs."""
    rows: dict[str, str] = {}
    for chunk in chunks(sorted(ids)):
        marks = ",".join("?" * len(chunk))
        rows.update(
            db.execute(f"SELECT alias, url FROM url_aliases WHERE url IN ({marks})", list(chunk))
        )
    return rows


# ---------------------------------------------------------------------------- reads


def _known_items(db: sqlite_utils.Database, urls: Sequence[str]) -> dict[str, KnownItem]:
    known = {}
    for chunk in chunks(sorted(set(urls))):
        marks = ",".join("?" * len(chunk))
        for item_id, url, headline, summary, digest in db.execute(
            f"SELECT id, url, headline, summary, content_hash FROM items WHERE url IN ({marks})",
            list(chunk),
        ):
            known[url] = KnownItem(item_id, url, headline, summary, digest)
    return known


def _recent_versions(
    db: sqlite_utils.Database, item_ids: Sequence[int]
) -> dict[int, list[tuple[int, str]]]:
    """Each item's last versions other than its current one: (number, content hash)."""
    recent: dict[int, list[tuple[int, str]]] = {}
    for item_id in item_ids:
        recent[item_id] = db.execute(
            "SELECT v.version, v.content_hash FROM item_versions AS v JOIN items AS i"
            " ON i.id = v.item_id WHERE v.item_id = ? AND v.version != i.version"
            " ORDER BY v.version DESC LIMIT ?",
            [item_id, RECENT_VERSIONS],
        ).fetchall()
    return recent


def _marked(db: sqlite_utils.Database, item_ids: Sequence[int]) -> list[int]:
    """Items already marked alternating since their last edit (their last change says so)."""
    last_kind = (
        "SELECT kind FROM changes WHERE item_id = ? AND kind IN"
        " ('new', 'edited', 'filled', 'reextracted', 'alternating') ORDER BY id DESC LIMIT 1"
    )
    return [
        item_id
        for item_id in item_ids
        if (db.execute(last_kind, [item_id]).fetchone() or ("",))[0] == "alternating"
    ]


def _pace(db: sqlite_utils.Database, topic_id: int, listed: list[ListedItem], now: str) -> Pace:
    """The topic's publication dates of its last listing and the time since its last run."""
    dates: list[str] = []
    for chunk in chunks([str(item.item_id) for item in listed if not item.vanished]):
        marks = ",".join("?" * len(chunk))
        dates += [
            str(value)
            for (value,) in db.execute(
                f"SELECT published_at FROM items WHERE id IN ({marks})", list(chunk)
            )
        ]
    previous = previous_ok_run(db, topic_id)
    elapsed = 0.0
    if previous is not None:
        elapsed = max(0.0, (parse_iso(now) - parse_iso(previous[1])).total_seconds())
    return Pace(tuple(dates), elapsed)


def _topic_urls(
    db: sqlite_utils.Database, topic_id: int, sightings: Sequence[Sighting]
) -> set[str]:
    """Which of the run's URLs the topic has ever listed."""
    urls: set[str] = set()
    for chunk in chunks(sorted({s.url for s in sightings})):
        marks = ",".join("?" * len(chunk))
        urls.update(
            url
            for (url,) in db.execute(
                f"SELECT i.url FROM items AS i JOIN topic_items AS t ON t.item_id = i.id"
                f" AND t.topic_id = ? WHERE i.url IN ({marks})",
                [topic_id, *chunk],
            )
        )
    return urls


def _ids_for(db: sqlite_utils.Database, urls: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in chunks(list(urls)):
        marks = ",".join("?" * len(chunk))
        ids.update(db.execute(f"SELECT url, id FROM items WHERE url IN ({marks})", list(chunk)))
    return ids


# ---------------------------------------------------------------------------- writes


# SET clause: a publication time replaces the stored one only when it says more (a time
# where only the day, or anything where nothing, was known: archive.published). SQLite
# evaluates both assignments against the row as it was.
_PRECISION_RANK = "CASE {} WHEN 'time' THEN 2 WHEN 'date' THEN 1 ELSE 0 END"
_SAYS_MORE = (
    f"{_PRECISION_RANK.format('{precision}')} > {_PRECISION_RANK.format('published_precision')}"
)
_MORE_PRECISE_TIME = (
    f" published_at = CASE WHEN {_SAYS_MORE} THEN {{value}} ELSE published_at END,"
    f" published_precision = CASE WHEN {_SAYS_MORE} THEN {{precision}} ELSE published_precision END"
)


def _write_items(
    db: sqlite_utils.Database, run_id: int, result: Classification, now: str
) -> dict[str, int]:
    """Insert new items, update changed ones, re-sight the rest; return url -> item id."""
    db.conn.executemany(
        "INSERT INTO items (url, headline, summary, published_at, published_precision, tags,"
        " first_seen_at, last_seen_at, version, content_hash, truncated)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
        [
            (
                s.url,
                s.headline,
                s.summary,
                s.published_at,
                precision(s.published_at),
                json.dumps(list(s.tags), ensure_ascii=False),
                now,
                now,
                content_hash(s.headline, s.summary),
                ",".join(s.truncated),
            )
            for s in result.new
        ],
    )
    ids = _ids_for(db, [s.url for s in result.new])
    ids.update({e.known.url: e.known.item_id for e in result.edited})
    ids.update({r.known.url: r.known.item_id for r in result.returned})
    unchanged_ids = _ids_for(db, [s.url for s in result.unchanged])
    ids.update(unchanged_ids)
    # Numbered after the item's highest version: a return may have set it back to an older one.
    db.conn.executemany(
        "UPDATE items SET headline = ?, summary = ?, content_hash = ?, truncated = ?,"
        " version = (SELECT max(version) FROM item_versions WHERE item_id = items.id) + 1,"
        " last_seen_at = ? WHERE id = ?",
        [
            (e.headline, e.summary, content_hash(e.headline, e.summary),
             ",".join(e.sighting.truncated), now, e.known.item_id)
            for e in result.edited
        ],
    )  # fmt: skip
    db.conn.executemany(
        "UPDATE items SET (headline, summary, content_hash, truncated, version) = (SELECT"
        " headline, summary, content_hash, truncated, version FROM item_versions"
        " WHERE item_id = ?1 AND version = ?2) WHERE id = ?1",
        [(r.known.item_id, r.version) for r in result.returned],
    )
    resighted = [(e.sighting, e.known.item_id) for e in result.edited]
    resighted += [(r.sighting, r.known.item_id) for r in result.returned]
    resighted += [(s, unchanged_ids[s.url]) for s in result.unchanged]
    db.conn.executemany(
        "UPDATE items SET last_seen_at = ?1,"
        + _MORE_PRECISE_TIME.format(value="?2", precision="?5")
        + ", tags = CASE WHEN ?3 = '[]' THEN tags ELSE ?3 END WHERE id = ?4",
        [
            (
                now,
                s.published_at,
                json.dumps(list(s.tags), ensure_ascii=False),
                item_id,
                precision(s.published_at),
            )
            for s, item_id in resighted
        ],
    )
    _write_changes(db, run_id, result, ids, now)
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
    """Copy new and changed items' latest state into ``item_versions`` (full copies, not
    diffs), each naming its evidence (the listing page snapshot it was read from), and
    index them for search."""
    changed = [(ids[s.url], s.page) for s in result.new]
    changed += [(e.known.item_id, e.sighting.page) for e in result.edited]
    _copy_versions(
        db, run_id, [(i, page_snapshots.get(p)) for i, p in changed], extractor_version, now
    )


def _copy_versions(
    db: sqlite_utils.Database,
    run_id: int,
    changed: Sequence[tuple[int, int | None]],
    extractor_version: str,
    now: str,
) -> None:
    db.conn.executemany(
        "INSERT INTO item_versions (item_id, version, headline, summary, observed_at, run_id,"
        " content_hash, snapshot_id, extractor_version, truncated) SELECT id, version,"
        " headline, summary, ?, ?, content_hash, ?, ?, truncated FROM items WHERE id = ?",
        [
            (now, run_id, snapshot, extractor_version, item_id)
            for item_id, snapshot in sorted(changed)
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
    rows += [(run_id, e.known.item_id, e.kind, now, ",".join(e.fields)) for e in result.edited]
    rows += [(run_id, r.known.item_id, "alternating", now, "") for r in result.returned if r.mark]
    rows += [(run_id, i.item_id, "vanished", now, "") for i in result.vanished]
    rows += [(run_id, i.item_id, "reappeared", now, "") for i in result.reappeared]
    db.conn.executemany(
        "INSERT INTO changes (run_id, item_id, kind, at, fields, version)"
        " VALUES (?1, ?2, ?3, ?4, ?5, (SELECT version FROM items WHERE id = ?2))",
        rows,
    )


def _fill_unlisted(
    db: sqlite_utils.Database,
    run_id: int,
    articles: Sequence[Article],
    listed: set[str],
    report: RunReport,
    now: str,
) -> None:
    """Fields that article pages read this run supply to items this run did not list.

    Pending items are enriched on later runs even when the listing no longer shows them on
    the pages read; their article can only fill what was never observed (``filled``).
    """
    changed: list[tuple[int, int | None]] = []
    for article in articles:
        url = resolve_url(db, article.listing_url)
        known = _known_items(db, [url]).get(url)
        if url in listed or known is None:
            continue
        db.execute(
            "UPDATE items SET" + _MORE_PRECISE_TIME.format(value="?1", precision="?4")
            + ", tags = CASE WHEN ?2 = '[]' THEN tags ELSE ?2 END WHERE id = ?3",
            [article.published_at, json.dumps(list(article.tags), ensure_ascii=False),
             known.item_id, precision(article.published_at)],
        )  # fmt: skip
        if known.headline or not article.headline:
            continue
        headline = valid_unicode(article.headline)
        db.execute(
            "UPDATE items SET headline = ?, content_hash = ?,"
            " version = (SELECT max(version) FROM item_versions WHERE item_id = items.id) + 1"
            " WHERE id = ?",
            [headline, content_hash(headline, known.summary), known.item_id],
        )
        db.execute(
            "INSERT INTO changes (run_id, item_id, kind, at, fields, version) SELECT ?, id,"
            " 'filled', ?, 'headline', version FROM items WHERE id = ?",
            [run_id, now, known.item_id],
        )
        changed.append((known.item_id, None))
    if changed:
        _copy_versions(db, run_id, changed, report.extractor_version, now)


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
        " last_position, last_page, last_run_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (topic_id, item_id) DO UPDATE SET last_listed_at = excluded.last_listed_at,"
        " last_position = excluded.last_position, last_page = excluded.last_page,"
        " last_run_id = excluded.last_run_id, vanished_at = NULL",
        [(topic_id, ids[s.url], now, now, s.position, s.page, run_id) for s in sightings],
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
    """Remember each parsed page's validators, items and body, for the next check (a
    conditional GET, or a body compared with the last one parsed)."""
    db.conn.executemany(
        "INSERT INTO listing_pages (url, topic_id, page, etag, last_modified, item_urls,"
        " fetched_at, body_sha256, extraction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (url) DO UPDATE SET topic_id = excluded.topic_id,"
        " page = excluded.page, etag = excluded.etag, last_modified = excluded.last_modified,"
        " item_urls = excluded.item_urls, fetched_at = excluded.fetched_at,"
        " body_sha256 = excluded.body_sha256, extraction = excluded.extraction",
        [
            (
                p.url,
                topic_id,
                p.page,
                p.etag,
                p.last_modified,
                json.dumps([s.url for s in dedupe(p.sightings)], ensure_ascii=False),
                now,
                p.body_sha256,
                p.extraction,
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
    topic_id: int,
    report: RunReport,
    first_page_items: int | None,
    items_seen: int,
    result: Classification,
    now: str,
    notes: list[str],
) -> RunSummary:
    edited = [e for e in result.edited if e.kind == "edited"]
    counts = {
        "pages": len(report.pages),
        "pages_not_modified": sum(p.not_modified for p in report.pages),
        "articles_fetched": len(report.articles),
        "articles_failed": len(report.article_failures),
        "articles_pending": pending_count(db, topic_id),
        "items_seen": items_seen,
        "items_new": len(result.new),
        "items_edited": len(edited),
        "items_filled": len(result.edited) - len(edited),
        "items_vanished": len(result.vanished),
        "items_reappeared": len(result.reappeared),
        "fields_cleaned": report.fields_cleaned,
    }
    db.execute(
        "UPDATE crawl_runs SET status = 'ok', finished_at = :now, pages = :pages,"
        " pages_not_modified = :pages_not_modified, items_seen = :items_seen,"
        " items_new = :items_new, items_edited = :items_edited, items_filled = :items_filled,"
        " items_vanished = :items_vanished, items_reappeared = :items_reappeared,"
        " articles_fetched = :articles_fetched, articles_failed = :articles_failed,"
        " articles_pending = :articles_pending, fields_cleaned = :fields_cleaned,"
        " first_page_items = :first, gap_suspected = :gap, headline_coverage = :headline,"
        " summary_coverage = :summary, date_coverage = :date, extractor_version = :extractor,"
        " reason = :reason, error = :error WHERE id = :run_id",
        {
            **counts,
            "now": now,
            "first": first_page_items,
            "gap": int(report.gap_suspected or bool(report.partial)),
            "headline": report.coverage.get("headline"),
            "summary": report.coverage.get("summary"),
            "date": report.coverage.get("published_at"),
            "extractor": report.extractor_version,
            "reason": "partial" if report.partial else None,
            "error": report.partial or None,
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
        error=report.partial or None,
        items_filled=counts["items_filled"],
        articles_fetched=counts["articles_fetched"],
        articles_pending=counts["articles_pending"],
        notes=tuple(notes),
    )
