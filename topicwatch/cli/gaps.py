"""``topicwatch gaps``: where the archive may have missed items, and the crawl that fills each.

Opens the archive read-only, reads the clock once to resolve WHEN, calls one archive
function and formats the result; any problem is one line on stderr and exit status 2.
"""

from __future__ import annotations

import dataclasses
import shlex
from datetime import UTC, datetime

import click

from topicwatch.archive.gaps import Gap, find_gaps
from topicwatch.archive.lookup import topic_id_or_none
from topicwatch.archive.runs import topic_name_for
from topicwatch.cli.options import (
    DEFAULT_DB,
    db_option,
    reading,
    topic_option,
)
from topicwatch.cli.output import (
    Column,
    emit,
    output_options,
    short_time,
)

GAP_COLUMNS = (
    Column("topic", "topic", 16),
    Column("kind", "kind"),
    Column("status", "status"),
    Column("start", "from"),
    Column("end", "to"),
    Column("detail", "detail", 60),
    Column("fill", "fill with"),
)


@click.command(name="gaps")
@db_option
@topic_option
@output_options
def gaps_command(db: str, topic: str | None, fmt: str | None) -> None:
    """List periods where the archive may have missed items, with the crawl that fills each.

    page-limit: a run hit its page limit before reaching archived items. downtime: no
    run for over twice the usual interval. failed: a streak of failed runs. A gap is
    covered once a later run read past it down to older items; open gaps need their
    fill command (topicwatch crawl --pages N).

    \b
    Examples:
        topicwatch gaps
        topicwatch gaps --topic nato --json
    """
    now = datetime.now(UTC)
    with reading(db) as archive:
        gaps = find_gaps(archive, now, topic_id_or_none(archive, topic))
    rows = [
        {**dataclasses.asdict(gap), "runs": list(gap.runs), "fill": fill_command(gap, db)}
        for gap in gaps
    ]
    if fmt:
        emit(rows, fmt, ())
    else:
        cells = [{**r, "start": short_time(r["start"]), "end": short_time(r["end"])} for r in rows]
        emit(cells, None, GAP_COLUMNS)


def fill_command(gap: Gap, db: str) -> str:
    """The ``topicwatch crawl`` that reads down far enough to fill ``gap``, ready to paste."""
    command = ["topicwatch", "crawl", "--url", gap.url, "--pages", str(gap.pages)]
    if gap.topic != topic_name_for(gap.url):
        command += ["--topic", gap.topic]
    if db != DEFAULT_DB:
        command += ["--db", db]
    return shlex.join(command)
