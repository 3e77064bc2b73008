"""The ``topicwatch`` command: a thin click layer over :mod:`crawler.run` and :mod:`archive`.

Each command parses options, calls the library, and formats the result; errors from the
library become one-line messages with exit code 2 (usage) or 1 (failed run).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from scrapy.exceptions import UsageError

from topicwatch import DEFAULT_TOPIC_URL, __version__
from topicwatch.archive import ArchiveError
from topicwatch.crawler.commands_daemon import daemon_command, status_command
from topicwatch.crawler.commands_snapshots import (
    prune_command,
    reparse_command,
    show_snapshot_command,
)
from topicwatch.crawler.config import duration_seconds
from topicwatch.crawler.css import check_selector
from topicwatch.crawler.output import printable, say
from topicwatch.crawler.run import CrawlRequest, crawl
from topicwatch.crawler.settings import TOPICWATCH_MAX_PAGES_HARD

DB_HELP = "Archive file (SQLite). Default ./topicwatch.db, or $TOPICWATCH_DB."


class PageCount(click.IntRange):
    """A page count up to ``TOPICWATCH_MAX_PAGES_HARD``, whose ``-s`` override raises it.

    Parsing checks the lower bound only (options are parsed in command-line order, so
    ``-s`` may come later); :func:`_check_page_limits` checks the upper bound against the
    effective setting, with click's own message. Help and errors read as ``1<=x<=50``.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.INT.convert(value, param, ctx)
        if self.max is not None and number > self.max:
            return number
        return super().convert(number, param, ctx)


def db_option(function: Any) -> Any:
    """``--db PATH`` shared by every command that opens the archive."""
    return click.option(
        "--db",
        "db",
        envvar="TOPICWATCH_DB",
        default="topicwatch.db",
        show_default=True,
        type=click.Path(dir_okay=False),
        help=DB_HELP,
    )(function)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="topicwatch")
def cli() -> None:
    """topicwatch: archive news topic listing pages with change detection.

    Crawl a topic listing (default: novaist.jp's NATO tag) into an SQLite archive that
    keeps every headline and summary version, every run, and every change.
    """


@cli.command(name="crawl")
@click.option("--url", default=DEFAULT_TOPIC_URL, show_default=True, help="Topic listing URL.")
@db_option
@click.option("--topic", help="Topic name (default: the URL's last path segment).")
@click.option(
    "--pages",
    type=PageCount(1, TOPICWATCH_MAX_PAGES_HARD),
    help="Read exactly N pages (manual gap filling); no conditional GET.",
)
@click.option(
    "--max-pages",
    type=PageCount(1, TOPICWATCH_MAX_PAGES_HARD),
    default=5,
    show_default=True,
    help="Continuity paging limit: read on while pages hold no known item, up to N.",
)
@click.option(
    "--trigger",
    type=click.Choice(["manual", "schedule"]),
    default="manual",
    show_default=True,
    help="Recorded in crawl_runs.trigger (the daemon passes 'schedule').",
)
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    callback=lambda ctx, param, value: _seconds(value, param),
    help="Seconds to wait while another process crawls the same topic.",
)
@click.option("--selectors", help="JSON object of CSS selector overrides (item, headline, ...).")
@click.option(
    "-s",
    "--set",
    "overrides",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a Scrapy setting, e.g. -s DOWNLOAD_DELAY=2 (repeatable).",
)
@click.option("--log-level", default="WARNING", show_default=True, help="Scrapy log level.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as a JSON object.")
def crawl_command(
    url: str,
    db: str,
    topic: str | None,
    pages: int | None,
    max_pages: int,
    trigger: str,
    wait: float,
    selectors: str | None,
    overrides: tuple[str, ...],
    log_level: str,
    as_json: bool,
) -> None:
    """Crawl a topic listing once and archive what changed.

    Prints one line (pages, items seen, new, edited, vanished, duration) or, with
    --json, the run's row. Exit status: 0 ok, 1 failed run, 2 usage error, 75 busy
    (another process is crawling this topic).

    \b
    Examples:
        topicwatch crawl
        topicwatch crawl --url https://novaist.jp/articles/tag/nato/ --db nato.db
        topicwatch crawl --pages 3      # fill a gap: read exactly 3 pages
    """
    settings = _parse_overrides(overrides)
    _check_page_limits(settings, pages=pages, max_pages=max_pages)
    request = CrawlRequest(
        url=url,
        db=db,
        topic=topic,
        pages=pages,
        max_pages=max_pages,
        trigger=trigger,
        lock_wait=wait,
        selectors=_parse_selectors(selectors),
        settings={**settings, "LOG_LEVEL": log_level.upper()},
    )
    try:
        result = crawl(request)
    except (UsageError, ArchiveError) as error:
        raise click.UsageError(printable(str(error))) from error
    if as_json and result.run is not None:
        click.echo(json.dumps({**result.run, "duration": round(result.duration, 3)}))
    else:
        say(result.message, err=result.exit_code != 0)
    sys.exit(result.exit_code)


def _parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--set")
        settings[name.strip()] = value
    return settings


def _check_page_limits(settings: dict[str, str], **counts: int | None) -> None:
    """Refuse page counts above the default cap unless ``-s TOPICWATCH_MAX_PAGES_HARD`` allows.

    Counts within the default cap are left alone (the spider clamps them to a lower
    override), so nothing changes for a crawl that does not raise the cap.
    """
    over = {name: n for name, n in counts.items() if n and n > TOPICWATCH_MAX_PAGES_HARD}
    if not over:
        return
    raw = settings.get("TOPICWATCH_MAX_PAGES_HARD", "")
    hard = int(raw) if raw.strip().isdigit() else TOPICWATCH_MAX_PAGES_HARD
    ctx = click.get_current_context()
    params = {param.name: param for param in ctx.command.params}
    for name, count in over.items():
        click.IntRange(1, hard).convert(count, params[name], ctx)


def _seconds(value: float, param: click.Parameter) -> float:
    """A duration option, through the one duration check (nan, inf, 1e300 refused)."""
    try:
        return duration_seconds(value)
    except ValueError as error:
        raise click.BadParameter(str(error), param=param) from None


def _parse_selectors(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    try:
        data = json.loads(value)
    except ValueError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--selectors") from error
    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--selectors")
    selectors = {str(k): str(v) for k, v in data.items()}
    for name, selector in selectors.items():
        try:
            check_selector(selector)
        except ValueError as error:
            raise click.BadParameter(f"{name}: {error}", param_hint="--selectors") from None
    return selectors


cli.add_command(daemon_command)
cli.add_command(status_command)
cli.add_command(reparse_command)
cli.add_command(show_snapshot_command)
cli.add_command(prune_command)


from topicwatch.crawler.commands_query import COMMANDS  # noqa: E402 (after cli: they join its group)

for _command in COMMANDS:
    cli.add_command(_command)
