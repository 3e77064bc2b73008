"""``topicwatch watches``: the configured watches, their outbox, and delivering it by hand.

The daemon delivers watches continuously; ``watches send`` delivers what is pending once
(for operators who crawl by hand or from cron). Both match and send through
daemon.watch_delivery and the one outbox in the archive, under one lock, so nothing is
sent twice. Never imports Scrapy; Apprise only when a message goes to an Apprise URL.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import sqlite_utils

from topicwatch.archive.durations import format_duration
from topicwatch.archive.watches import DeliveryBusy, delivery_lock, register_watches, watch_states
from topicwatch.cli.daemon import _load
from topicwatch.cli.options import archive_at, config_option
from topicwatch.cli.output import Problem, say, short_time
from topicwatch.daemon.config import Config
from topicwatch.daemon.hooks import HookError
from topicwatch.daemon.watch_delivery import compose, deliver_due, sample_delivery, send
from topicwatch.printable import to_json

EXIT_BUSY = 75


def db_override(function: Any) -> Any:
    """``--db PATH``: the archive, instead of the config's db."""
    return click.option(
        "--db", "db", envvar="TOPICWATCH_DB", type=click.Path(dir_okay=False),
        help="Archive file. Default: the config's db (./topicwatch.db), or $TOPICWATCH_DB.",
    )(function)  # fmt: skip


@click.group(name="watches", invoke_without_command=True)
@config_option
@db_override
@click.option("--json", "as_json", is_flag=True, help="Print the watches as JSON.")
@click.pass_context
def watches_command(
    ctx: click.Context, config_path: str | None, db: str | None, as_json: bool
) -> None:
    """List the configured watches: last delivery, pending count, last error.

    A watch ([[watch]] in the config) sends the changes it matches to its destinations
    (Apprise URLs, a webhook, a command); the daemon delivers them continuously, or run
    `topicwatch watches send`. Each watch also has a live Atom feed in `topicwatch serve`
    at /-/watches/NAME.atom.

    \b
    Examples:
        topicwatch watches
        topicwatch watches --config /etc/topicwatch.toml --json
        topicwatch watches send
        topicwatch watches test ops-nato
    """
    if ctx.invoked_subcommand is not None:
        return
    config = _load(config_path, db)
    rows = _rows(config)
    if as_json:
        click.echo(to_json(rows))
    elif not rows:
        say("no watches configured ([[watch]] in the config)")
    for row in [] if as_json else rows:
        say(_line(row))


@watches_command.command(name="send")
@config_option
@db_override
@click.option("--wait", type=click.FloatRange(0), default=60.0, show_default=True,
              help="Seconds to wait while the daemon is delivering.")  # fmt: skip
def send_command(config_path: str | None, db: str | None, wait: float) -> None:
    """Deliver whatever the watches have pending once, and exit.

    Registers new watches first (a new watch covers changes from now on, never the
    history). Exit status: 0 all sent, 1 some delivery failed (it stays pending and is
    retried with backoff), 2 bad config, 75 another process kept delivering.

    \b
    Examples:
        topicwatch crawl --all && topicwatch watches send
    """
    config = _load(config_path, db)
    if not config.watches:
        say("no watches configured ([[watch]] in the config)")
        return
    path = str(config.db)
    now = datetime.now(UTC)
    with _writing(path) as archive:
        for name in register_watches(archive, [w.rule for w in config.watches], now):
            say(f"watch {name} registered: it covers changes from now on")
    try:
        with delivery_lock(path, wait=wait):
            results = deliver_due(lambda: _writing(path), config.watches, lambda: datetime.now(UTC))
    except DeliveryBusy as busy:
        say(f"{busy}; try again later", err=True)
        sys.exit(EXIT_BUSY)
    for result in results:
        if result.error:
            say(f"watch {result.watch}: not sent to {result.destination}: {result.error}", err=True)
        else:
            say(f"watch {result.watch}: {result.changes} change(s) sent to {result.destination}")
    if not results:
        with archive_at(path) as archive:
            waiting = sum(s.pending for s in watch_states(archive).values())
        say(f"nothing due; {waiting} change(s) wait for a retry or their digest's end"
            if waiting else "nothing pending")  # fmt: skip
    if any(result.error for result in results):
        sys.exit(1)


@watches_command.command(name="test")
@config_option
@click.argument("name")
def test_command(config_path: str | None, name: str) -> None:
    """Send a sample message for watch NAME through each of its real destinations.

    Exit status 1 if any destination did not accept it.

    \b
    Examples:
        topicwatch watches test ops-nato
    """
    config = _load(config_path)
    watch = next((w for w in config.watches if w.name == name), None)
    if watch is None:
        raise Problem(f"no watch named {name!r} in the config")
    message = compose(watch, sample_delivery(watch, datetime.now(UTC)))
    failed = False
    for destination in watch.notify:
        try:
            send(destination, message)
        except HookError as error:
            failed = True
            say(f"{destination.label}: not sent: {error}", err=True)
        else:
            say(f"{destination.label}: sent")
    if failed:
        sys.exit(1)


@contextmanager
def _writing(path: str) -> Iterator[sqlite_utils.Database]:
    with archive_at(path, readonly=False) as archive:
        yield archive


def _rows(config: Config) -> list[dict[str, Any]]:
    states = {}
    if Path(config.db).exists():
        with archive_at(str(config.db)) as archive:
            if archive["watches"].exists():
                states = watch_states(archive, [w.rule for w in config.watches])
    rows = []
    for watch in config.watches:
        state = states.get(watch.name)
        rows.append({
            "name": watch.name,
            "topics": list(watch.topics) if watch.topics is not None else "all",
            "kinds": list(watch.kinds),
            "query": watch.query,
            "digest": format_duration(watch.digest) if watch.digest else "0",
            "notify": [d.label for d in watch.notify],
            "registered_at": state.registered_at if state else None,
            "last_delivery_at": state.last_delivery_at if state else None,
            "pending": state.pending if state else 0,
            "failed": state.failed if state else 0,
            "last_error": state.last_error if state else None,
        })  # fmt: skip
    return rows


def _line(row: dict[str, Any]) -> str:
    registered = "" if row["registered_at"] else " (not registered yet)"
    error = f", last error: {row['last_error']}" if row["last_error"] else ""
    topics = row["topics"] if row["topics"] == "all" else ",".join(row["topics"])
    query = f" query {row['query']!r}" if row["query"] else ""
    last = short_time(row["last_delivery_at"]) if row["last_delivery_at"] else "never"
    return (
        f"{row['name']}: {'/'.join(row['kinds'])} in {topics}{query}, digest {row['digest']}"
        f" -> {', '.join(row['notify'])}; last delivery {last},"
        f" {row['pending']} pending, {row['failed']} failed{error}{registered}"
    )
