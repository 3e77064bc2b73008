"""The analysts' commands: search, changes, history, asof, export, gaps, serve.

Each opens the archive read-only (``mode=ro``: never a write, never a lock a crawl waits
on), reads the clock once to resolve WHEN, calls one :mod:`archive` function and formats
the result. Any problem is one line on stderr and exit status 2.

Longer than our usual module: seven thin commands and the formatting of their rows;
each section is short, and splitting them would scatter one command-line surface.
"""

from __future__ import annotations

import dataclasses
import shlex
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import sqlite_utils

from topicwatch.archive import ArchiveError, open_archive
from topicwatch.archive.asof import listing_as_of
from topicwatch.archive.atom import atom_feed, entry_id, feed_info
from topicwatch.archive.changelog import KINDS, Change, list_changes
from topicwatch.archive.db import confirm_read, is_pinned_read
from topicwatch.archive.diff import Op, char_diff, excerpt, render
from topicwatch.archive.gaps import find_gaps
from topicwatch.archive.history import History, item_history
from topicwatch.archive.lookup import MAX_ROW_ID, find_item_id, require_runs, topic_id_or_none
from topicwatch.archive.search import EmptyQuery, Hit, SearchRequest, search
from topicwatch.archive.when import BadWhen, parse_when
from topicwatch.crawler.output import (
    DELETED,
    END,
    INSERTED,
    Column,
    Marked,
    OneLineError,
    emit,
    json_option,
    mark,
    output_options,
    printable,
    printable_lines,
    say,
    to_json,
    to_terminal,
)
from topicwatch.crawler.urls import canonical_url

DEFAULT_DB = "topicwatch.db"


class QueryError(OneLineError):
    """A one-line error with exit status 2, like a usage error but without the usage."""


def db_option(function: Any) -> Any:
    """``--db PATH`` (same as ``topicwatch crawl``'s; crawler.cli imports this module)."""
    return click.option(
        "--db",
        envvar="TOPICWATCH_DB",
        default=DEFAULT_DB,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="Archive file (SQLite), opened read-only. Default ./topicwatch.db, or $TOPICWATCH_DB.",
    )(function)


def topic_option(function: Any) -> Any:
    return click.option("--topic", metavar="T", help="Only this topic (name or listing URL).")(
        function
    )


@contextmanager
def reading(path: str) -> Iterator[sqlite_utils.Database]:
    """The archive opened read-only; archive errors become :class:`QueryError`."""
    try:
        db = open_archive(path, readonly=True)
    except ArchiveError as error:
        raise QueryError(str(error)) from error
    try:
        require_runs(db)
        yield db
        confirm_read(db)  # before anything read is shown
    except sqlite3.DatabaseError:
        _confirm(db)  # a read a writer tore is said to be one, not a damaged archive
        raise
    except ArchiveError as error:
        raise QueryError(str(error)) from error
    finally:
        db.close()


def _confirm(db: sqlite_utils.Database) -> None:
    try:
        confirm_read(db)
    except ArchiveError as error:
        raise QueryError(str(error)) from error


def when(text: str | None, now: datetime, option: str) -> datetime | None:
    """Parse a WHEN option (None stays None)."""
    if text is None:
        return None
    try:
        return parse_when(text, now)
    except BadWhen as error:
        raise QueryError(f"{option}: {error}") from error


def short_time(value: str | None) -> str:
    """``2026-02-01T06:00:00+00:00`` as ``2026-02-01 06:00Z`` for tables."""
    if not value:
        return ""
    return value[:16].replace("T", " ") + ("Z" if value.endswith("+00:00") else "")


# --------------------------------------------------------------------------- search

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
    now = datetime.now(UTC)
    with reading(db) as archive:
        request = SearchRequest(
            query,
            topic_id_or_none(archive, topic),
            when(since, now, "--since"),
            when(until, now, "--until"),
            limit,
            all_versions,
        )
        try:
            hits = search(archive, request).hits
        except EmptyQuery as error:
            raise QueryError(str(error)) from error
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


# --------------------------------------------------------------------------- changes

CHANGE_COLUMNS = (
    Column("at", "at"),
    Column("kind", "kind"),
    Column("topic", "topic", 16),
    Column("item_id", "item"),
    Column("what", "headline / edit", 90),
)


@click.command(name="changes")
@db_option
@click.option("--since", metavar="WHEN", default="24h", show_default=True)
@click.option("--until", metavar="WHEN")
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
    with reading(db) as archive:
        changes = list_changes(
            archive,
            since=when(since, now, "--since"),
            until=when(until, now, "--until"),
            kinds=kinds,
            topic_id=topic_id_or_none(archive, topic),
            limit=limit or None,
        )
    if fmt:
        emit([change_object(change) for change in changes], fmt, ())
    else:
        emit([change_cells(change) for change in changes], None, CHANGE_COLUMNS)


def change_object(change: Change) -> dict[str, Any]:
    data = dataclasses.asdict(change)
    return {"change_id": data.pop("id"), **data, "fields": list(change.fields)}


def change_cells(change: Change) -> dict[str, Any]:
    what: str = change.headline
    if change.kind == "edited":
        edits = (
            f"{name}: {marked_diff(excerpt(char_diff(before, after)))}"
            for name, before, after in (
                ("headline", change.headline_before, change.headline),
                ("summary", change.summary_before, change.summary),
            )
            if before is not None and before != after
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


# --------------------------------------------------------------------------- history


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


# --------------------------------------------------------------------------- asof

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
        at = when(moment, now, "WHEN") or now
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


# --------------------------------------------------------------------------- export


@click.command(name="export")
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "atom"]),
    default="jsonl",
    show_default=True,
)
@topic_option
@click.option("--since", metavar="WHEN", help="Only changes at or after WHEN.")
@click.option("--limit", type=click.IntRange(1, MAX_ROW_ID), help="At most N entries (newest).")
def export_command(
    db: str, fmt: str, topic: str | None, since: str | None, limit: int | None
) -> None:
    """Export new and edited items (one entry per item version), newest first.

    atom is a feed for feed readers: entry ids are tag URIs of item id and version, so
    an entry keeps its id across exports and an edit arrives as a new entry whose
    content is the diff. csv and jsonl carry the same entries as flat rows.

    \b
    Examples:
        topicwatch export --format atom --topic nato --since 7d > nato.atom
        topicwatch export --format csv > changes.csv
    """
    now = datetime.now(UTC)
    with reading(db) as archive:
        topic_id = topic_id_or_none(archive, topic)
        changes = list_changes(
            archive,
            since=when(since, now, "--since"),
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
    if fmt == "csv":
        emit(rows, "csv", ())
    else:
        for row in rows:
            click.echo(to_json(row, indent=None))


# --------------------------------------------------------------------------- gaps

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
    rows = []
    for gap in gaps:
        extra = () if db == DEFAULT_DB else ("--db", db)
        row = {**dataclasses.asdict(gap), "runs": list(gap.runs)}
        row["fill"] = shlex.join([*gap.fill, *extra])
        rows.append(row)
    if fmt:
        emit(rows, fmt, ())
    else:
        cells = [{**r, "start": short_time(r["start"]), "end": short_time(r["end"])} for r in rows]
        emit(cells, None, GAP_COLUMNS)


# --------------------------------------------------------------------------- serve


@click.command(name="serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True)
def serve_command(db: str, host: str, port: int) -> None:
    """Browse the archive in Datasette (read-only), with descriptions and canned queries.

    Needs the optional extra: pip install 'topicwatch[web]'. Canned queries: latest
    items, recent edits (before/after), retractions, failed runs, as-of, search.

    \b
    Examples:
        topicwatch serve
        topicwatch serve --db nato.db --port 8080
    """
    try:
        import datasette  # noqa: F401
    except ImportError:
        raise QueryError("Datasette is not installed: pip install 'topicwatch[web]'") from None
    from topicwatch.crawler.datasette_metadata import serve

    with reading(db) as archive:  # fail here, in one line, on a missing, old or empty archive
        if is_pinned_read(archive):
            raise QueryError(
                f"cannot serve {db}: reading it needs its -shm file, which this user cannot"
                " create; a server reading for hours without it could not notice a writer"
                " (run serve as the archive's owner, or while the daemon keeps it open)"
            )
    serve(Path(db), host, port)


COMMANDS = (
    search_command,
    changes_command,
    history_command,
    asof_command,
    export_command,
    gaps_command,
    serve_command,
)
