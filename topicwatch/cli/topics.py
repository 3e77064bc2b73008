"""``topicwatch topics``: the topics an archive follows — list, rename, retire, restore."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
import sqlite_utils

from topicwatch.archive.topics import list_topics, rename_topic, restore_topic, retire_topic
from topicwatch.cli.options import archive_at, db_option, reading
from topicwatch.cli.output import Column, emit, output_options, say, short_time

TOPIC_COLUMNS = (
    Column("name", "topic", 24),
    Column("state", "state"),
    Column("runs", "runs"),
    Column("last_run", "last run"),
    Column("last_status", "status"),
    Column("listed", "listed"),
    Column("url", "url", 60),
)


@click.group(name="topics", invoke_without_command=True)
@db_option
@output_options
@click.pass_context
def topics_command(ctx: click.Context, db: str, fmt: str | None) -> None:
    """List the archive's topics; rename, retire or restore one.

    A retired topic leaves `status` and `gaps`; its runs, items and changes stay (nothing
    is deleted), and crawling it again makes it active again. Remove it from the daemon's
    config too, or the daemon's next start brings it back. The name is a label: the
    listing URL is the identity.

    \b
    Examples:
        topicwatch topics
        topicwatch topics retire natto
        topicwatch topics rename nato NATO
    """
    if ctx.invoked_subcommand is not None:
        return
    with reading(db) as archive:
        summaries = list_topics(archive)
    rows = [
        {
            **dataclasses.asdict(topic),
            "state": "retired" if topic.retired_at else "active",
            "last_run": topic.last_run_at,
        }
        for topic in summaries
    ]
    if fmt:
        emit(rows, fmt, ())
    else:
        emit([{**r, "last_run": short_time(r["last_run"])} for r in rows], None, TOPIC_COLUMNS)


@contextmanager
def _writing(db: str) -> Iterator[sqlite_utils.Database]:
    """The archive for a change, which must exist already (never a new empty file)."""
    with reading(db):
        pass
    with archive_at(db, readonly=False) as archive:
        yield archive


@topics_command.command(name="rename")
@db_option
@click.argument("topic")
@click.argument("new_name")
def rename(db: str, topic: str, new_name: str) -> None:
    """Give TOPIC (name or listing URL) the label NEW_NAME."""
    with _writing(db) as archive:
        old = rename_topic(archive, topic, new_name)
    say(f"renamed {old} -> {new_name.strip()}")


@topics_command.command(name="retire")
@db_option
@click.argument("topic")
def retire(db: str, topic: str) -> None:
    """Take TOPIC out of status and gaps, keeping its history."""
    with _writing(db) as archive:
        name = retire_topic(archive, topic, datetime.now(UTC))
    say(f"retired {name}: out of status and gaps, history kept; a crawl makes it active again")


@topics_command.command(name="restore")
@db_option
@click.argument("topic")
def restore(db: str, topic: str) -> None:
    """Make a retired TOPIC active again."""
    with _writing(db) as archive:
        name = restore_topic(archive, topic)
    say(f"restored {name}")
