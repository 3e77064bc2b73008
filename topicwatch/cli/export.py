"""``topicwatch export``: changes as an Atom feed or JSON lines.

Opens the archive read-only, reads the clock once to resolve WHEN, calls one archive
function and formats the result; any problem is one line on stderr and exit status 2.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from topicwatch.archive.atom import atom_feed, entry_id, feed_info
from topicwatch.archive.change_feed import list_changes
from topicwatch.archive.lookup import MAX_ROW_ID, topic_id_or_none
from topicwatch.cli.changes import change_object
from topicwatch.cli.options import (
    db_option,
    reading,
    resolve_window,
    topic_option,
)
from topicwatch.cli.output import emit, to_terminal
from topicwatch.printable import printable_lines, to_json


@click.command(name="export")
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "excel", "jsonl", "atom"]),
    help="excel: CSV with a UTF-8 BOM and CRLF line ends, for spreadsheets.",
    default="jsonl",
    show_default=True,
)
@topic_option
@click.option("--since", metavar="WHEN", help="Only changes at or after WHEN.")
@click.option("--until", metavar="WHEN", help="Only changes at or before WHEN.")
@click.option("--limit", type=click.IntRange(1, MAX_ROW_ID), help="At most N entries (newest).")
def export_command(
    db: str, fmt: str, topic: str | None, since: str | None, until: str | None, limit: int | None
) -> None:
    """Export new and edited items (one entry per item version), newest first.

    atom is a feed for feed readers: entry ids are tag URIs of item id and version, so
    an entry keeps its id across exports and an edit arrives as a new entry whose
    content is the diff. csv and jsonl carry the same entries as flat rows.

    \b
    Examples:
        topicwatch export --format atom --topic nato --since 7d > nato.atom
        topicwatch export --format csv --since 14d --until 7d > week.csv
        topicwatch export --format excel > changes.csv
    """
    start, end = resolve_window(since, until, datetime.now(UTC))
    with reading(db) as archive:
        topic_id = topic_id_or_none(archive, topic)
        changes = list_changes(
            archive,
            since=start,
            until=end,
            kinds=("new", "edited"),
            topic_id=topic_id,
            limit=limit,
        )
        info = feed_info(archive, topic_id)
    if fmt == "atom":
        feed = atom_feed(info, changes)
        click.echo(printable_lines(feed) if to_terminal() else feed, nl=False)
        return
    rows = [{**change_object(change), "entry_id": entry_id(change)} for change in changes]
    if fmt in ("csv", "excel"):
        emit(rows, fmt, ())
    else:
        for row in rows:
            click.echo(to_json(row, indent=None))
