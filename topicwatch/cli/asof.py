"""``topicwatch asof``: a topic's listing as it was at a moment.

Opens the archive read-only, reads the clock once to resolve WHEN, calls one archive
function and formats the result; any problem is one line on stderr and exit status 2.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import click

from topicwatch.archive.asof import listing_as_of
from topicwatch.archive.lookup import topic_id_or_none
from topicwatch.cli.options import (
    db_option,
    reading,
    resolve_moment,
    topic_option,
)
from topicwatch.cli.output import Column, emit, output_options, say, short_time
from topicwatch.printable import printable

ASOF_COLUMNS = (
    Column("position", "pos"),
    Column("page", "page"),
    Column("item_id", "item"),
    Column("version", "v"),
    Column("published_at", "published"),
    Column("headline", "headline", 70),
)


@click.command(name="asof")
@click.argument("moment", metavar="WHEN")
@db_option
@topic_option
@output_options
def asof_command(moment: str, db: str, topic: str | None, fmt: str | None) -> None:
    """Show each topic's listing as the archive saw it at WHEN.

    The listing read by the last successful run at or before WHEN (pages that run read),
    each card with the text the archive knew at WHEN. WHEN is an ISO date/time (UTC
    unless it has an offset) or relative (24h, 7d).

    \b
    Examples:
        topicwatch asof 2026-02-01T12:00+09:00
        topicwatch asof 7d --topic nato --json
    """
    now = datetime.now(UTC)
    with reading(db) as archive:
        at = resolve_moment(moment, now, "WHEN") or now
        entries = listing_as_of(archive, at, topic_id_or_none(archive, topic))
    rows = [dataclasses.asdict(entry) for entry in entries]
    if fmt:
        emit(rows, fmt, ())
        return
    for name in dict.fromkeys(row["topic"] for row in rows):
        own = [row for row in rows if row["topic"] == name]
        read_at = short_time(own[0]["listed_at"])
        say(f"{printable(name)}: listing read {read_at} (run {own[0]['run_id']})")
        emit(own, None, ASOF_COLUMNS)
