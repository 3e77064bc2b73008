"""``topicwatch history``: one item's versions, listings and changes.

Opens the archive read-only, reads the clock once to resolve WHEN, calls one archive
function and formats the result; any problem is one line on stderr and exit status 2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import click

from topicwatch.archive.history import History, item_history
from topicwatch.archive.lookup import find_item_id
from topicwatch.archive.urls import canonical_url
from topicwatch.cli.changes import marked_diff
from topicwatch.cli.options import (
    db_option,
    reading,
)
from topicwatch.cli.output import json_option, say, short_time
from topicwatch.printable import printable, to_json


@click.command(name="history")
@click.argument("item")
@db_option
@json_option
def history_command(item: str, db: str, fmt: str | None) -> None:
    """Show every version of an item with character diffs, its changes and sightings.

    ITEM is an article URL or an item id (as printed by search and changes).

    \b
    Examples:
        topicwatch history https://novaist.jp/articles/nato-arctic-sentry-2/
        topicwatch history 12 --json
    """
    with reading(db) as archive:
        forms = [form for form in [canonical_url(item, item)] if form and "://" in item]
        history = item_history(archive, find_item_id(archive, item, forms))
    if fmt:
        click.echo(to_json(history_object(history)))
    else:
        for line in history_lines(history):
            say(line)


def history_object(history: History) -> dict[str, Any]:
    data = dataclasses.asdict(history)
    for version in data["versions"]:
        version["diff"] = {
            "headline": [list(op) for op in version.pop("headline_diff")],
            "summary": [list(op) for op in version.pop("summary_diff")],
        }
    return data


def history_lines(history: History) -> Iterator[str]:
    item = history.item
    yield f"item {item['id']}  {printable(item['url'])}"
    published = printable(item["published_at"] or "?")
    yield (
        f"published {published} · first seen {short_time(item['first_seen_at'])}"
        f" · last seen {short_time(item['last_seen_at'])} · {len(history.versions)} version(s)"
    )
    for version in history.versions:
        changed = f"  edited: {', '.join(version.changed)}" if version.changed else ""
        yield ""
        seen = short_time(version.observed_at)
        yield f"v{version.version}  {seen}  run {version.run_id}{changed}"
        for name, ops, text in (
            ("headline", version.headline_diff, version.headline),
            ("summary", version.summary_diff, version.summary),
        ):
            shown = marked_diff(ops) if version.version > 1 and ops else printable(text)
            unchanged = version.version > 1 and name not in version.changed
            yield f"    {name + ':':9} {'(unchanged)' if unchanged else shown}"
    yield ""
    yield "changes"
    for event in history.events:
        at, fields = short_time(event.at), ",".join(event.fields)
        topic = printable(event.topic)
        yield f"    {at}  {event.kind:10} {topic}  run {event.run_id}  {fields}".rstrip()
    yield ""
    yield "sightings"
    for sighting in history.sightings:
        gone = f", vanished {short_time(sighting.vanished_at)}" if sighting.vanished_at else ""
        yield (
            f"    {printable(sighting.topic)}: listed {short_time(sighting.first_listed_at)}"
            f" – {short_time(sighting.last_listed_at)}, last at position"
            f" {sighting.last_position} (page {sighting.last_page}){gone}"
        )
        for s in sighting.stretches:
            yield (
                f"        position {s.position} (page {s.page}): {short_time(s.first_at)}"
                f" – {short_time(s.last_at)} ({s.listings} listing(s))"
            )
