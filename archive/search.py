"""Full-text search over headlines and summaries, Japanese included.

How a query is answered (p95 7–16 ms at 1M items / 2M versions: docs/benchmarks.md):

* The query is folded like the index (:mod:`archive.fold`) and split on whitespace;
  every word must occur, in the headline or the summary, as a substring.
* Words of 3+ characters are trigram phrases in ``search_fts``.
* Words of 1–2 characters cannot be trigram phrases. Every indexed column ends in a
  sentinel, so each occurrence of such a word starts some indexed trigram: the word
  becomes an OR of the index's terms that start with it, read from ``search_vocab``.
  A rare word has few such terms and is answered from the index. A common word (in
  :data:`COMMON_SHARE` of the newest versions, or with more than :data:`MAX_EXPANSION`
  terms) is tested on each candidate's text instead: the index's other words drive, or
  a newest-first scan of the versions fills the window almost at once. Listing a common
  word's terms would cost ~20 ms at 2M versions (``fts5vocab`` reads their lists).
* Candidates are the newest :data:`WINDOW` matches; they are ranked by where and how
  often the words occur (a headline hit weighs :data:`HEADLINE_WEIGHT` summary hits),
  newest first among equals, counting on each text's search key; only the hits returned
  get their spans located. Ranking every match of a common word would cost seconds;
  analysts want the recent ones anyway.
* With ``since``, the index is read only from the first version archived since then
  (``item_versions_observed``); older versions still listed then are found from their
  items (``items_last_seen``), so a rare word in a short window does not read its whole
  list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlite_utils

from topicwatch.archive.fold import key_with_offsets, match_key, search_key
from topicwatch.archive.sql_functions import register_functions
from topicwatch.archive.timestamps import iso

MAX_EXPANSION = 200
PROBE = 200
COMMON_SHARE = 0.1
WINDOW = 1000
HEADLINE_WEIGHT = 3
_TOP_CHAR = "\U0010ffff"

Span = tuple[int, int]


@dataclass(frozen=True)
class SearchRequest:
    """What to search for, and where; times bound when the matching text was listed."""

    query: str
    topic_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 20
    all_versions: bool = False


@dataclass(frozen=True)
class Hit:
    """One matching item version, with the matched spans of its headline and summary."""

    item_id: int
    version: int
    latest_version: int
    url: str
    headline: str
    summary: str
    published_at: str
    first_seen_at: str
    last_seen_at: str
    observed_at: str
    score: int
    topics: tuple[str, ...] = ()
    headline_spans: tuple[Span, ...] = ()
    summary_spans: tuple[Span, ...] = ()


@dataclass(frozen=True)
class SearchResult:
    """The hits, best first, and how they were found: ``index`` or ``scan``."""

    hits: list[Hit] = field(default_factory=list)
    method: str = "index"


class EmptyQuery(ValueError):
    """The query holds no characters to search for."""


def search(db: sqlite_utils.Database, request: SearchRequest) -> SearchResult:
    """Run ``request`` against the archive (see the module docstring for how)."""
    words = query_words(request.query)
    plan = _plan(db, words)
    if plan is None:
        return SearchResult([], "index")
    rows = _candidates(db, request, words, plan)
    # Rank on the match counts alone; only the hits shown need their spans located.
    rows.sort(key=lambda row: (-_score(row, words), -row[0]))
    best = [_hit(row, words) for row in rows[: request.limit]]
    return SearchResult(_with_topics(db, best), "scan" if plan.scanned else "index")


def query_words(query: str) -> list[str]:
    """The query's words in search-key form; raises :class:`EmptyQuery` if there are none."""
    words = list(dict.fromkeys(search_key(query).split()))
    if not words:
        raise EmptyQuery("the search query is empty")
    return words


@dataclass(frozen=True)
class _Plan:
    """How to find the words: a MATCH expression (None: no index at all) for some, and a
    substring test of each candidate's text for the ``scanned`` (common short) ones."""

    expression: str | None
    scanned: tuple[str, ...]


def _plan(db: sqlite_utils.Database, words: list[str]) -> _Plan | None:
    """None when a short word occurs nowhere (no results)."""
    parts, scanned = [], []
    for word in words:
        if len(word) >= 3:
            parts.append(_phrase(word))
            continue
        if _PLAIN.fullmatch(word) and _common(db, word):
            scanned.append(word)
            continue
        terms = [
            term
            for (term,) in db.execute(
                "SELECT term FROM search_vocab WHERE term >= ? AND term < ? LIMIT ?",
                [word, word + _TOP_CHAR, MAX_EXPANSION + 1],
            )
        ]
        if not terms:
            return None
        if len(terms) > MAX_EXPANSION:
            scanned.append(word)
        else:
            parts.append("(" + " OR ".join(map(_phrase, terms)) + ")")
    return _Plan(" AND ".join(parts) or None, tuple(scanned))


def _common(db: sqlite_utils.Database, word: str) -> bool:
    """Whether ``word`` is in many of the newest versions. A scan then fills the window at
    once, while listing its index terms would read their long lists (20 ms at 2M rows)."""
    sample = (
        "SELECT count(*) FROM (SELECT headline, summary FROM item_versions AS v"
        f" ORDER BY id DESC LIMIT ?) AS v WHERE {_contains(db, word)}"
    )
    found = db.execute(sample, [PROBE, word, word]).fetchone()[0]
    return bool(found >= PROBE * COMMON_SHARE)


def _contains(db: sqlite_utils.Database, word: str) -> str:
    """SQL testing whether version ``v``'s headline or summary holds ``word`` (bind it twice)."""
    if _PLAIN.fullmatch(word):
        return "(instr(v.headline, ?) OR instr(v.summary, ?))"
    register_functions(db.conn)
    return (
        "(instr(topicwatch_search_key(v.headline), ?)"
        " OR instr(topicwatch_search_key(v.summary), ?))"
    )


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


# Words of kanji and hiragana only: folding and lower-casing never make nor change these
# characters, so such a word is in a text's search key exactly when it is in the text,
# and SQLite tests it on the stored text without calling back into Python.
_PLAIN = re.compile("[\u3041-\u3096\u3400-\u4dbf\u4e00-\u9fff]+")

_COLUMNS = (
    "v.id, v.item_id, v.version, i.version, i.url, v.headline, v.summary, i.published_at,"
    " i.first_seen_at, i.last_seen_at, v.observed_at"
)
# A version was on the listing from its observation until the next version replaced it,
# or, for the latest version, until the item was last seen.
_LISTED_UNTIL = (
    "coalesce((SELECT n.observed_at FROM item_versions AS n"
    " WHERE n.item_id = v.item_id AND n.version = v.version + 1), i.last_seen_at)"
)


# Items whose older versions may still have been listed at a time (bound three times):
# first seen before it and seen after it (a crawl that archives a version also sees its
# item), or re-extracted after it.
_STILL_LISTED = (
    "SELECT id FROM items WHERE last_seen_at >= ? AND first_seen_at < ?"
    " UNION SELECT item_id FROM changes WHERE kind = 'reextracted' AND at >= ?"
)


def _candidates(
    db: sqlite_utils.Database, request: SearchRequest, words: list[str], plan: _Plan
) -> list[tuple[Any, ...]]:
    """The newest :data:`WINDOW` matching versions that pass the filters, newest first."""
    window = max(WINDOW, request.limit)
    if request.since is None:
        return _select(db, request, plan, window)
    # Versions archived since --since all have ids >= first, and the index reads only
    # those. An older version qualifies only while still listed at --since: its item was
    # first seen before and seen (or re-extracted) after, which few items are.
    since = iso(request.since)
    first = db.execute(
        "SELECT coalesce(min(id), (SELECT max(id) + 1 FROM item_versions), 0)"
        " FROM item_versions INDEXED BY item_versions_observed WHERE observed_at >= ?",
        [since],
    ).fetchone()[0]
    rows = _select(db, request, plan, window, (">=", first))
    if len(rows) < window:
        scan = _Plan(None, tuple(words))
        rows += _select(db, request, scan, window, ("<", first), [since, since, since])
        rows.sort(key=lambda row: -row[0])
    return rows[:window]


def _select(
    db: sqlite_utils.Database,
    request: SearchRequest,
    plan: _Plan,
    window: int,
    bound: tuple[str, int] | None = None,
    still_listed: list[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Matching versions newest first, from the index or by a scan of the versions,
    optionally only ids beyond ``bound`` or of ``still_listed`` items."""
    where: list[str] = []
    params: list[object] = []
    if plan.expression is None:
        source, order = "item_versions AS v", "v.id"
    else:
        # CROSS JOIN keeps the index outermost, so it yields rows newest first and the
        # LIMIT stops it early.
        source = "search_fts CROSS JOIN item_versions AS v ON v.id = search_fts.rowid"
        order = "search_fts.rowid"
        where.append("search_fts MATCH ?")
        params.append(plan.expression)
    for word in plan.scanned:
        where.append(_contains(db, word))
        params += [word, word]
    if still_listed is not None:
        source = f"({_STILL_LISTED}) AS s CROSS JOIN {source} ON v.item_id = s.id"
        params[:0] = still_listed
    if bound is not None:
        where.append(f"{order} {bound[0]} ?")
        params.append(bound[1])
    if not request.all_versions:
        where.append("v.version = i.version")
    if request.until is not None:
        where.append("v.observed_at <= ?")
        params.append(iso(request.until))
    if request.since is not None:
        where.append(f"{_LISTED_UNTIL} >= ?")
        params.append(iso(request.since))
    if request.topic_id is not None:
        where.append(
            "EXISTS (SELECT 1 FROM topic_items AS ti WHERE ti.item_id = v.item_id"
            " AND ti.topic_id = ?)"
        )
        params.append(request.topic_id)
    sql = (
        f"SELECT {_COLUMNS} FROM {source} JOIN items AS i ON i.id = v.item_id"
        f" WHERE {' AND '.join(where)} ORDER BY {order} DESC LIMIT ?"
    )
    return db.execute(sql, [*params, window]).fetchall()


def _score(row: tuple[Any, ...], words: list[str]) -> int:
    headline, summary = row[5], row[6]
    return _weigh(match_count(match_key(headline), words), match_count(match_key(summary), words))


def _weigh(headline_hits: int, summary_hits: int) -> int:
    return HEADLINE_WEIGHT * headline_hits + summary_hits


def _hit(row: tuple[Any, ...], words: list[str]) -> Hit:
    _, item_id, version, latest, url, headline, summary, *times = row
    published_at, first_seen_at, last_seen_at, observed_at = times
    headline_spans, headline_hits = match_spans(headline, words)
    summary_spans, summary_hits = match_spans(summary, words)
    return Hit(
        item_id,
        version,
        latest,
        url,
        headline,
        summary,
        published_at,
        first_seen_at,
        last_seen_at,
        observed_at,
        score=_weigh(headline_hits, summary_hits),
        headline_spans=headline_spans,
        summary_spans=summary_spans,
    )


def _occurrences(key: str, words: list[str]) -> Iterator[Span]:
    """Where each word occurs in ``key`` (a word's occurrences not overlapping)."""
    for word in words:
        start = key.find(word)
        while start != -1:
            end = start + len(word)
            yield start, end
            start = key.find(word, end)


def match_count(key: str, words: list[str]) -> int:
    """How often the words occur in ``key``, as :func:`match_spans` counts them."""
    return sum(1 for _ in _occurrences(key, words))


def text_matches(words: list[str], headline: str, summary: str) -> bool:
    """Whether every word occurs in the headline or the summary, as :func:`search` finds
    it (any length, folded): the same test for one text that the index makes for many."""
    keys = (match_key(headline), match_key(summary))
    return all(any(word in key for key in keys) for word in words)


def match_spans(text: str, words: list[str]) -> tuple[tuple[Span, ...], int]:
    """Where the words occur in ``text`` as published (merged spans), and how often."""
    key, offsets = key_with_offsets(text)
    spans = [(offsets[start][0], offsets[end - 1][1]) for start, end in _occurrences(key, words)]
    count = len(spans)
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged), count


def _with_topics(db: sqlite_utils.Database, hits: list[Hit]) -> list[Hit]:
    if not hits:
        return hits
    ids = sorted({hit.item_id for hit in hits})
    names: dict[int, list[str]] = {}
    marks = ",".join("?" * len(ids))
    for item_id, name in db.execute(
        "SELECT ti.item_id, t.name FROM topic_items AS ti JOIN topics AS t ON t.id = ti.topic_id"
        f" WHERE ti.item_id IN ({marks}) ORDER BY t.name",
        ids,
    ):
        names.setdefault(item_id, []).append(name)
    return [replace(hit, topics=tuple(names.get(hit.item_id, ()))) for hit in hits]
