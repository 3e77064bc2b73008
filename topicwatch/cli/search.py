"""``topicwatch search``: full-text search of every headline and summary, Japanese of any length.

Opens the archive read-only, reads the clock once to resolve WHEN, calls one archive
function and formats the result; any problem is one line on stderr and exit status 2.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from topicwatch.archive.lookup import MAX_ROW_ID, topic_id_or_none
from topicwatch.archive.search import EmptyQuery, Hit, SearchRequest, search
from topicwatch.cli.options import (
    db_option,
    reading,
    resolve_window,
    topic_option,
)
from topicwatch.cli.output import (
    Column,
    Marked,
    Problem,
    emit,
    mark,
    output_options,
    short_time,
)

SEARCH_COLUMNS = (
    Column("seen", "seen"),
    Column("item_id", "item"),
    Column("headline", "headline", 48),
    Column("match", "summary", 56),
    Column("url", "url"),
)


@click.command(name="search")
@click.argument("query")
@db_option
@topic_option
@click.option("--since", metavar="WHEN", help="Only text on the listing at or after WHEN.")
@click.option("--until", metavar="WHEN", help="Only text on the listing at or before WHEN.")
@click.option("--limit", type=click.IntRange(1, MAX_ROW_ID), default=20, show_default=True)
@click.option("--all-versions", is_flag=True, help="Search earlier versions too.")
@output_options
def search_command(
    query: str,
    db: str,
    topic: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    all_versions: bool,
    fmt: str | None,
) -> None:
    """Search headlines and summaries, Japanese included, best hits first.

    Every word of QUERY must occur in the headline or summary, as a substring: 3+
    character words use the trigram index, 1-2 character words (北極, AI) work too.
    Full-width and half-width forms match each other (ＮＡＴＯ = NATO), Latin letters in
    any case. Only latest texts are searched unless --all-versions; --since/--until keep
    text that was on the listing in that window. Ranked by where and how often the
    words occur (headline first), newest first among equals; matches are highlighted.

    \b
    Examples:
        topicwatch search グリーンランド
        topicwatch search 北極 --since 7d
        topicwatch search "ルッテ 米国" --topic nato --all-versions --json
    """
    start, end = resolve_window(since, until, datetime.now(UTC))
    with reading(db) as archive:
        request = SearchRequest(
            query,
            topic_id_or_none(archive, topic),
            start,
            end,
            limit,
            all_versions,
        )
        try:
            hits = search(archive, request).hits
        except EmptyQuery as error:
            raise Problem(str(error)) from error
    if fmt:
        emit([hit_object(hit) for hit in hits], fmt, ())
    else:
        emit([hit_cells(hit) for hit in hits], None, SEARCH_COLUMNS)


def hit_object(hit: Hit) -> dict[str, Any]:
    """A search hit as JSON: the item's identity and times, this version's text."""
    return {
        "url": hit.url,
        "headline": hit.headline,
        "summary": hit.summary,
        "published_at": hit.published_at,
        "first_seen_at": hit.first_seen_at,
        "last_seen_at": hit.last_seen_at,
        "item_id": hit.item_id,
        "version": hit.version,
        "latest": hit.version == hit.latest_version,
        "observed_at": hit.observed_at,
        "topics": list(hit.topics),
        "score": hit.score,
    }


def hit_cells(hit: Hit) -> dict[str, Any]:
    version = "" if hit.version == hit.latest_version else f" (v{hit.version})"
    return {
        "seen": short_time(hit.observed_at),
        "item_id": f"{hit.item_id}{version}",
        "headline": mark(hit.headline, hit.headline_spans),
        "match": snippet(hit.summary, hit.summary_spans),
        "url": hit.url,
    }


def snippet(text: str, spans: tuple[tuple[int, int], ...], before: int = 12) -> Marked:
    """The text from a little before its first match on, matches marked."""
    start = max(0, spans[0][0] - before) if spans else 0
    shifted = [(a - start, b - start) for a, b in spans if a >= start]
    return Marked(("…" if start else "") + mark(text[start:], shifted))
