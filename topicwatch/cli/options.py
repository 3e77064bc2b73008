"""What many commands share, each defined once: ``--db``, ``--topic``, ``--config``, the
one-line error every command ends with, and opening the archive for a command.

sqlite-utils' habit: option bundles are plain decorators, and library errors become
one-line ``click.ClickException`` messages (exit status 2), never tracebacks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import click
import sqlite_utils

from topicwatch.archive import ArchiveError, open_archive
from topicwatch.archive.db import confirm_read
from topicwatch.archive.lookup import require_runs
from topicwatch.archive.moments import BadMoment, parse_moment
from topicwatch.cli.output import Problem

DEFAULT_DB = "topicwatch.db"
F = TypeVar("F", bound=Callable[..., Any])


def db_option(function: F) -> F:
    """``--db PATH``: the archive file, ``$TOPICWATCH_DB`` or ./topicwatch.db."""
    return click.option(
        "--db",
        "db",
        envvar="TOPICWATCH_DB",
        default=DEFAULT_DB,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="Archive file (SQLite). Default ./topicwatch.db, or $TOPICWATCH_DB.",
    )(function)


def topic_option(function: F) -> F:
    """``--topic T``: one topic, by name or listing URL."""
    return click.option("--topic", metavar="T", help="Only this topic (name or listing URL).")(
        function
    )


def config_option(function: F) -> F:
    """``--config FILE``: the daemon's config, ``$TOPICWATCH_CONFIG`` or ./topicwatch.toml."""
    return click.option(
        "--config",
        "config_path",
        envvar="TOPICWATCH_CONFIG",
        type=click.Path(dir_okay=False),
        help="Daemon config (TOML). Default ./topicwatch.toml if present, or $TOPICWATCH_CONFIG.",
    )(function)


@contextmanager
def archive_at(path: str, *, readonly: bool = True) -> Iterator[sqlite_utils.Database]:
    """The archive for one command; any archive problem is one :class:`Problem`.

    Read-only opens never write and never hold a lock a crawl waits on. What was read is
    confirmed before the command shows it: a read a writer tore is said to be one (run
    it again), not taken for a damaged archive.
    """
    try:
        db = open_archive(path, readonly=readonly)
    except ArchiveError as error:
        raise Problem(str(error)) from error
    try:
        yield db
        confirm_read(db)
    except sqlite3.DatabaseError:
        _confirm(db)
        raise
    except ArchiveError as error:
        raise Problem(str(error)) from error
    finally:
        db.close()


def _confirm(db: sqlite_utils.Database) -> None:
    try:
        confirm_read(db)
    except ArchiveError as error:
        raise Problem(str(error)) from error


def resolve_moment(text: str | None, now: datetime, option: str) -> datetime | None:
    """A WHEN option's moment (:mod:`archive.moments`); None stays None."""
    if text is None:
        return None
    try:
        return parse_moment(text, now)
    except BadMoment as error:
        raise Problem(f"{option}: {error}") from error


def resolve_window(
    since: str | None, until: str | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """``--since``/``--until`` as moments; a window ending before it starts is an error
    (``--since 7d --until 14d`` matched nothing, silently, and looked like a quiet week)."""
    start = resolve_moment(since, now, "--since")
    end = resolve_moment(until, now, "--until")
    if start is not None and end is not None and start > end:
        raise Problem(
            f"--since {since} is after --until {until}: the window is empty"
            " (--since is the older moment, e.g. --since 14d --until 7d)"
        )
    return start, end


@contextmanager
def reading(path: str) -> Iterator[sqlite_utils.Database]:
    """The archive opened read-only for an analysts' command, which needs runs to read."""
    with archive_at(path) as db:
        try:
            require_runs(db)
        except ArchiveError as error:
            raise Problem(str(error)) from error
        yield db
