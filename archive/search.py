"""Full-text search over headlines and summaries, Japanese included.

How a query is answered (numbers measured on 300k synthetic rows, see docs/schema.md):

* The query is folded like the index (:mod:`archive.fold`) and split on whitespace;
  every word must occur, in the headline or the summary, as a substring.
* Words of 3+ characters are trigram phrases in ``search_fts`` (about 1 ms).
* Words of 1–2 characters cannot be trigram phrases. Every indexed column ends in a
  sentinel, so each occurrence of such a word starts some indexed trigram: the word
  becomes an OR of the index's terms that start with it, read from ``search_vocab``.
  A rare word has few such terms and is answered from the index (0.05 ms a term); a word
  with more than :data:`MAX_EXPANSION` terms is common, so a newest-first scan of the
  versions (a LIKE-style substring test) fills the result window almost at once.
* Candidates are the newest :data:`WINDOW` matches; they are ranked in Python by where
  and how often the words occur (a headline hit weighs :data:`HEADLINE_WEIGHT` summary
  hits), newest first among equals. Ranking every match of a word found in half the
  archive would cost a second; analysts want the recent ones anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlite_utils

from archive.clock import iso
from archive.fold import key_with_offsets, search_key

MAX_EXPANSION = 200
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
    expression = _fts_expression(db, words)
    if expression == "":
        return SearchResult([], "index")
    method = "scan" if expression is None else "index"
    rows = _candidates(db, request, words, expression)
    hits = sorted((_hit(row, words) for row in rows), key=lambda r: (-r.hit.score, -r.version_id))
    best = [hit.hit for hit in hits[: request.limit]]
    return SearchResult(_with_topics(db, best), method)


def query_words(query: str) -> list[str]:
    """The query's words in search-key form; raises :class:`EmptyQuery` if there are none."""
    words = list(dict.fromkeys(search_key(query).split()))
    if not words:
        raise EmptyQuery("the search query is empty")
    return words


def _fts_expression(db: sqlite_utils.Database, words: list[str]) -> str | None:
    """The MATCH expression; None when a short word is too common (scan instead), and
    "" when a short word occurs nowhere (no results)."""
    parts = []
    for word in words:
        if len(word) >= 3:
            parts.append(_phrase(word))
            continue
        terms = [
            term
            for (term,) in db.execute(
                "SELECT term FROM search_vocab WHERE term >= ? AND term < ? LIMIT ?",
                [word, word + _TOP_CHAR, MAX_EXPANSION + 1],
            )
        ]
        if not terms:
            return ""
        if len(terms) > MAX_EXPANSION:
            return None
        parts.append("(" + " OR ".join(map(_phrase, terms)) + ")")
    return " AND ".join(parts)


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


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


def _candidates(
    db: sqlite_utils.Database, request: SearchRequest, words: list[str], expression: str | None
) -> list[tuple[Any, ...]]:
    where: list[str] = []
    params: list[object] = []
    if expression is None:
        db.conn.create_function("topicwatch_search_key", 1, search_key, deterministic=True)
        source, order = "item_versions AS v", "v.id"
        for word in words:
            where.append(
                "(instr(topicwatch_search_key(v.headline), ?)"
                " OR instr(topicwatch_search_key(v.summary), ?))"
            )
            params += [word, word]
    else:
        # CROSS JOIN keeps the index outermost, so it yields rows newest first and the
        # LIMIT stops it early.
        source = "search_fts CROSS JOIN item_versions AS v ON v.id = search_fts.rowid"
        order = "search_fts.rowid"
        where.append("search_fts MATCH ?")
        params.append(expression)
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
    return db.execute(sql, [*params, max(WINDOW, request.limit)]).fetchall()


@dataclass(frozen=True)
class _Ranked:
    hit: Hit
    version_id: int


def _hit(row: tuple[Any, ...], words: list[str]) -> _Ranked:
    version_id, item_id, version, latest, url, headline, summary, *times = row
    published_at, first_seen_at, last_seen_at, observed_at = times
    headline_spans, headline_hits = match_spans(headline, words)
    summary_spans, summary_hits = match_spans(summary, words)
    hit = Hit(
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
        score=HEADLINE_WEIGHT * headline_hits + summary_hits,
        headline_spans=headline_spans,
        summary_spans=summary_spans,
    )
    return _Ranked(hit, version_id)


def match_spans(text: str, words: list[str]) -> tuple[tuple[Span, ...], int]:
    """Where the words occur in ``text`` as published (merged spans), and how often."""
    key, offsets = key_with_offsets(text)
    spans: list[Span] = []
    for word in words:
        start = key.find(word)
        while start != -1:
            end = start + len(word)
            spans.append((offsets[start][0], offsets[end - 1][1]))
            start = key.find(word, end)
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
