"""``topicwatch crawl``: crawl one topic (or several, or every configured one) now and
archive what changed.

Scrapy is imported when the command runs, never when the command line is built: every
other command (and ``--help``) starts without it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from topicwatch import DEFAULT_TOPIC_URL, LOG_LEVELS, PAGE_CAP
from topicwatch.archive import ArchiveError
from topicwatch.archive.durations import duration_seconds
from topicwatch.cli.options import config_option, db_option
from topicwatch.cli.output import say
from topicwatch.printable import printable
from topicwatch.selectors import check_selector


class PageCount(click.IntRange):
    """A page count up to ``PAGE_CAP``, whose ``-s TOPICWATCH_MAX_PAGES_HARD`` raises it.

    Parsing checks the lower bound only (options are parsed in command-line order, so
    ``-s`` may come later); :func:`_check_page_limits` checks the upper bound against the
    effective setting, with click's own message. Help and errors read as ``1<=x<=50``.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.INT.convert(value, param, ctx)
        if self.max is not None and number > self.max:
            return number
        return super().convert(number, param, ctx)


@click.command(name="crawl")
@click.option(
    "--url",
    "urls",
    multiple=True,
    default=[DEFAULT_TOPIC_URL],
    show_default=True,
    help="Topic listing URL (repeatable: several topics in one crawl).",
)
@click.option("--all", "all_topics", is_flag=True, help="Every topic in the daemon's config.")
@config_option
@db_option
@click.option("--topic", help="Topic name (default: the URL's last path segment).")
@click.option(
    "--pages",
    type=PageCount(1, PAGE_CAP),
    help="Read exactly N pages (manual gap filling); no conditional GET.",
)
@click.option(
    "--max-pages",
    type=PageCount(1, PAGE_CAP),
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
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="Scrapy log level (INFO or DEBUG also show the request errors a run reports).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as a JSON object.")
def crawl_command(
    urls: tuple[str, ...],
    all_topics: bool,
    config_path: str | None,
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
    --json, the run's row. On a terminal, progress (pages read, items, article
    pages fetched of N) is shown on stderr meanwhile. Exit status: 0 ok, 1 failed
    run, 2 usage error, 75 busy (another process is crawling this topic).

    Several --url options, or --all (every topic of the daemon's config, each with
    its own max_pages, selectors, allow_hosts and timeout, into the config's archive
    unless --db is given), crawl the topics side by side in one process: one run
    each (its own row, lock and commit), one line (or JSON object) per topic. A busy
    topic is reported and the others go on. Exit status: 0 every run ok, 1 any run
    failed, 75 any topic busy and none failed, 2 usage error.

    \b
    Examples:
        topicwatch crawl
        topicwatch crawl --url https://novaist.jp/articles/tag/nato/ --db nato.db
        topicwatch crawl --pages 3      # fill a gap: read exactly 3 pages
        topicwatch crawl --all --config /etc/topicwatch.toml
    """
    from scrapy.exceptions import UsageError

    from topicwatch.crawler.run import CrawlRequest, crawl

    settings = _parse_overrides(overrides)
    _check_page_limits(settings, pages=pages, max_pages=max_pages)
    if all_topics or len(urls) > 1:
        topics, db, settings = _batch(urls, all_topics, config_path, db, topic, settings)
        url = urls[0]
    else:
        (url,) = urls
    request = CrawlRequest(
        url=url,
        db=db,
        topic=topic,
        pages=pages,
        max_pages=max_pages,
        trigger=trigger,
        lock_wait=wait,
        selectors=_parse_selectors(selectors),
        settings={**settings, "LOG_LEVEL": log_level.upper(), **_progress(as_json)},
    )
    if all_topics or len(urls) > 1:
        _crawl_batch(topics, request, as_json)
    try:
        result = crawl(request)
    except (UsageError, ArchiveError) as error:
        raise click.UsageError(printable(str(error))) from error
    if as_json and result.run is not None:
        click.echo(json.dumps({**result.run, "duration": round(result.duration, 3)}))
    else:
        say(result.message, err=result.exit_code != 0)
    sys.exit(result.exit_code)


def _batch(
    urls: tuple[str, ...],
    all_topics: bool,
    config_path: str | None,
    db: str,
    topic: str | None,
    settings: dict[str, str],
) -> tuple[list[Any], str, dict[str, str]]:
    """The topics of a crawl of several, its archive and its settings (the config's
    ``[settings]``, then ``-s``); each topic keeps its own limits from the config."""
    from topicwatch.crawler.run import TopicCrawl

    ctx = click.get_current_context()
    if topic:
        raise click.UsageError("--topic names one topic: not with several")
    if not all_topics:
        return [TopicCrawl(url) for url in urls], db, settings
    if ctx.get_parameter_source("urls") != click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--all crawls the config's topics: not with --url")
    from topicwatch.daemon.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as error:
        raise click.UsageError(printable(str(error))) from error
    if ctx.get_parameter_source("db") == click.core.ParameterSource.DEFAULT:
        db = str(config.db)
    topics = [
        TopicCrawl(t.url, t.name, t.max_pages, t.selectors, t.allow_hosts, t.timeout)
        for t in config.topics
    ]
    return topics, db, {**config.settings, **settings}


def _crawl_batch(topics: list[Any], request: Any, as_json: bool) -> None:
    """Crawl several topics in one process; one line (or JSON object) per topic."""
    from scrapy.exceptions import UsageError

    from topicwatch.crawler.run import crawl_topics

    try:
        code, results = crawl_topics(topics, request)
    except (UsageError, ArchiveError) as error:
        raise click.UsageError(printable(str(error))) from error
    for result in results:
        if as_json:
            row = result.run or {"topic": result.topic, "status": result.status}
            click.echo(json.dumps(row if result.run else {**row, "error": result.line}))
        else:
            say(result.line)
    sys.exit(code)


def _progress(as_json: bool) -> dict[str, str]:
    """Progress on stderr for a person at a terminal; never into a pipe, a file or JSON."""
    return {"TOPICWATCH_PROGRESS": "1"} if sys.stderr.isatty() and not as_json else {}


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
    over = {name: n for name, n in counts.items() if n and n > PAGE_CAP}
    if not over:
        return
    raw = settings.get("TOPICWATCH_MAX_PAGES_HARD", "")
    hard = int(raw) if raw.strip().isdigit() else PAGE_CAP
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
