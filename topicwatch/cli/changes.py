"""``topicwatch changes``: what changed, newest first, with the edits' diffs.

Opens the archive read-only, reads the clock once to resolve WHEN, calls one archive
function and formats the result; any problem is one line on stderr and exit status 2.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from topicwatch.archive.change_feed import KINDS, Change, list_changes
from topicwatch.archive.diff import Op, char_diff, excerpt, render
from topicwatch.archive.lookup import MAX_ROW_ID, topic_id_or_none
from topicwatch.cli.options import (
    db_option,
    reading,
    resolve_window,
    topic_option,
)
from topicwatch.cli.output import (
    DELETED,
    END,
    INSERTED,
    Column,
    Marked,
    emit,
    output_options,
    short_time,
)
from topicwatch.printable import printable

CHANGE_COLUMNS = (
    Column("at", "at"),
    Column("kind", "kind"),
    Column("topic", "topic", 16),
    Column("item_id", "item"),
    Column("what", "headline / edit", 90),
)


@click.command(name="changes")
@db_option
@click.option(
    "--since",
    metavar="WHEN",
    default="24h",
    show_default=True,
    help="Only changes at or after WHEN: 24h, 7d, 2026-02-01, 2026-02-01T09:00+09:00.",
)
@click.option("--until", metavar="WHEN", help="Only changes at or before WHEN (default: now).")
@click.option("--kind", "kinds", type=click.Choice(KINDS), multiple=True, help="Repeatable.")
@topic_option
@click.option(
    "--limit", type=click.IntRange(0, MAX_ROW_ID), default=200, show_default=True, help="0: all."
)
@output_options
def changes_command(
    db: str,
    since: str,
    until: str | None,
    kinds: tuple[str, ...],
    topic: str | None,
    limit: int,
    fmt: str | None,
) -> None:
    """List what changed, newest first: new, edited, vanished and reappeared items.

    Edited rows show a character diff of what changed ([-old-]{+new+}); with --json
    they carry headline_before and summary_before.

    \b
    Examples:
        topicwatch changes
        topicwatch changes --since 7d --kind edited
        topicwatch changes --since 2026-02-01 --kind vanished --topic nato --csv
    """
    now = datetime.now(UTC)
    start, end = resolve_window(since, until, now)
    with reading(db) as archive:
        changes = list_changes(
            archive,
            since=start,
            until=end,
            kinds=kinds,
            topic_id=topic_id_or_none(archive, topic),
            limit=limit or None,
        )
    if fmt:
        emit([change_object(change) for change in changes], fmt, ())
    else:
        emit([change_cells(change) for change in changes], None, CHANGE_COLUMNS)


def change_object(change: Change) -> dict[str, Any]:
    return change.to_json()


def change_cells(change: Change) -> dict[str, Any]:
    what: str = change.headline
    if change.kind == "edited":
        edits = (
            f"{name}: {marked_diff(excerpt(char_diff(before, after)))}"
            for name, before, after in change.edits()
        )
        what = Marked(" | ".join(edits))
    return {
        "at": short_time(change.at),
        "kind": change.kind,
        "topic": change.topic,
        "item_id": change.item_id,
        "what": what,
    }


def marked_diff(ops: list[Op]) -> Marked:
    """A diff with the ``[-…-]{+…+}`` markers, coloured on a terminal, text printable."""
    marks = {"equal": ("", ""), "delete": (DELETED, END), "insert": (INSERTED, END)}
    rendered = (
        marks[tag][0] + render([(tag, printable(text))]) + marks[tag][1] for tag, text in ops
    )
    return Marked("".join(rendered))
