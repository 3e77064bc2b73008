"""The daemon's configuration: one TOML file, validated completely before anything starts.

A long-running daemon that discovers a typo at 3 a.m. on its first scheduled run is worse
than one that refuses to start, so every key is checked here and a problem becomes one
:class:`ConfigError` naming the key — values that merely look valid included: a duration
of ``nan`` or ``99999999999d``, a URL that cannot be parsed, a topic named like one of the
daemon's own jobs, a selector lxml would reject, a cron day that never comes. Standard
library only (plus the stdlib-only URL helpers, the archive's naming rule and the pure
Python CSS parser), so the daemon can import it without Scrapy or lxml.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from topicwatch import DEFAULT_TOPIC_URL
from topicwatch.archive.db import check_path_fits
from topicwatch.archive.durations import duration_seconds, format_duration
from topicwatch.archive.errors import ArchiveError
from topicwatch.archive.runs import topic_name_for
from topicwatch.archive.urls import canonical_url
from topicwatch.daemon.cluster_config import ScrapydConfig, parse_scrapyd
from topicwatch.daemon.cron import CRON_FIELDS, cron_fields, cron_values, never_fires
from topicwatch.origins import host_entries
from topicwatch.selectors import check_selector
from topicwatch.setting_values import WHOLE_SETTINGS, whole_number

if TYPE_CHECKING:
    from topicwatch.daemon.watch_config import WatchConfig

DEFAULT_CONFIG = "topicwatch.toml"
DEFAULT_DB = "topicwatch.db"
DEFAULT_EVERY = 30 * 60.0
# A config of many topics is a few KiB; /dev/zero or a runaway generator is not one.
MAX_CONFIG_BYTES = 1024 * 1024
# tomllib takes quadratic time over a dotted key's depth (a.a.a…: 20,000 deep took 4 s,
# 100,000 hung the start) and recurses over nested arrays and inline tables.
MAX_KEY_DEPTH = 32
SELECTOR_KEYS = frozenset({"item", "headline", "summary", "link", "date", "next_page"})

_TOP_KEYS = frozenset(
    {"db", "timezone", "concurrency", "shutdown_grace", "heartbeat", "backoff_max"}
    | {"crawl_workers", "per_site", "defaults", "alerts", "settings", "topic", "watch"}
    | {"scrapyd"}
)
_SCHEDULE_KEYS = frozenset(
    {"every", "cron", "jitter", "max_pages", "timeout", "allow_hosts", "executor"}
)
EXECUTORS = ("local", "scrapyd")  # where a topic's crawls run: here, or on a Scrapyd node
_TOPIC_KEYS = _SCHEDULE_KEYS | {"name", "url", "selectors"}
_ALERT_KEYS = frozenset({"after", "webhook", "command"})
# A schedule or heartbeat below a second is a typo for minutes (``every = 0.5``), and
# would run a crawl (or write the archive) as fast as the machine can.
MIN_INTERVAL = 1.0
# The daemon's own scheduler jobs, which share the job-id space with topic names.
RESERVED_NAMES = frozenset({"housekeeping"})
# Warm crawl workers: each holds a Scrapy engine (~80 MiB), so a handful is the most a
# small host should keep; 0 keeps one child process per crawl.
MAX_CRAWL_WORKERS = 8


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class TopicConfig:
    """One scheduled topic: exactly one of ``every`` (seconds) or ``cron`` is set."""

    name: str
    url: str
    every: float | None = DEFAULT_EVERY
    cron: str | None = None
    jitter: float = 0.0
    max_pages: int = 5
    timeout: float = 600.0
    selectors: dict[str, str] | None = None
    allow_hosts: tuple[str, ...] = ()  # hosts besides the topic's origin (crawler.origins)
    executor: str = "local"  # "scrapyd": dispatched to a [scrapyd] node (daemon.scrapyd)

    @property
    def schedule(self) -> str:
        """How the schedule reads in logs and ``topicwatch status``."""
        return f"cron {self.cron}" if self.cron else f"every {format_duration(self.every or 0)}"


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts go: a webhook (JSON POST) and/or a command (JSON on stdin)."""

    after: int = 3
    webhook: str | None = None
    command: tuple[str, ...] | None = None

    @property
    def hooks(self) -> tuple[str, ...]:
        """The configured hook kinds, as recorded in the alert outbox."""
        return tuple(
            kind
            for kind, target in (("webhook", self.webhook), ("command", self.command))
            if target
        )


@dataclass(frozen=True)
class Config:
    """The whole daemon configuration, with defaults filled in and paths made absolute."""

    db: Path
    topics: tuple[TopicConfig, ...]
    path: Path | None = None
    timezone: str | None = None
    concurrency: int = 2
    shutdown_grace: float = 30.0
    heartbeat: float = 15.0
    backoff_max: float = 6 * 3600.0
    alerts: AlertConfig = field(default_factory=AlertConfig)
    settings: dict[str, str] = field(default_factory=dict)
    crawl_workers: int = 2  # N: a pool of N warm crawl workers; 0: a child process per crawl
    per_site: int = 1  # crawls of one site at once, whichever slot or worker runs them
    watches: tuple[WatchConfig, ...] = ()
    scrapyd: ScrapydConfig | None = None  # the [scrapyd] section: none, nothing changes


def load_config(
    path: str | os.PathLike[str] | None = None, *, db: str | os.PathLike[str] | None = None
) -> Config:
    """Read and validate the config at ``path``; ``None`` means ./topicwatch.toml if present.

    With no file at all the daemon still has work: the default NATO topic every 30 minutes
    into ./topicwatch.db, so ``topicwatch daemon`` needs nothing else. ``db`` (``topicwatch
    daemon --db``) replaces the config's archive: a config installed read-only under /etc
    names a relative db beside itself, and a service keeps its archive in its state
    directory instead.
    """
    if path is None:
        if not Path(DEFAULT_CONFIG).is_file():
            return _default_config(None if db is None else Path(db).absolute())
        path = DEFAULT_CONFIG
    file = Path(path)
    try:
        text = _read_config(file).decode("utf-8")
        _check_key_depth(text)
        data = tomllib.loads(text)
    except OSError as error:
        raise ConfigError(f"{file}: cannot read config ({error.strerror or error})") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: not valid TOML ({error})") from error
    except RecursionError:
        raise ConfigError(f"{file}: not valid TOML (nested too deeply)") from None
    try:
        if db is not None:
            data = {**data, "db": str(Path(db).absolute())}
        return parse_config(data, base=file.resolve().parent, path=file.resolve())
    except ConfigError as error:
        raise ConfigError(f"{file}: {error}") from None
    except RecursionError:
        raise ConfigError(f"{file}: nested too deeply") from None


def _read_config(file: Path) -> bytes:
    """The config's bytes: a regular file of at most ``MAX_CONFIG_BYTES``. A FIFO (or a
    terminal) blocked the daemon's start for ever and ``/dev/zero`` ate memory until the
    kernel killed it, so the file is opened without blocking and checked before reading."""
    handle = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise ConfigError(f"{file}: not a regular file")
        with os.fdopen(handle, "rb", closefd=False) as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    finally:
        os.close(handle)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{file}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a config")
    return data


def _check_key_depth(text: str) -> None:
    """Refuse a dotted key (or table header) deeper than ``MAX_KEY_DEPTH`` before tomllib
    reads it: dots inside quotes are not counted, a key ends at ``=``, a header at ``]``."""
    for number, line in enumerate(text.splitlines(), start=1):
        dots, quote = 0, ""
        for char in line.lstrip():
            if quote:
                quote = "" if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char in "=]#":
                break
            elif char == ".":
                dots += 1
        if dots >= MAX_KEY_DEPTH:
            raise tomllib.TOMLDecodeError(
                f"a key nested more than {MAX_KEY_DEPTH} deep (line {number})"
            )


def _default_config(db: Path | None = None) -> Config:
    db = db or Path(DEFAULT_DB).resolve()
    _check_db_dir(db)
    name = topic_name_for(DEFAULT_TOPIC_URL)
    return Config(db=db, topics=(TopicConfig(name=name, url=DEFAULT_TOPIC_URL),))


def parse_config(data: dict[str, Any], *, base: Path, path: Path | None = None) -> Config:
    """Validate parsed TOML; relative paths are taken from ``base`` (the config's folder)."""
    _no_nul(data, "")
    _no_unknown_keys(data, _TOP_KEYS, "")
    db = base / _string(data, "db", DEFAULT_DB, "db")
    _check_db_dir(db)
    defaults = _table(data, "defaults")
    _no_unknown_keys(defaults, _SCHEDULE_KEYS, "defaults.")
    base_topic = _schedule(defaults, TopicConfig(name="", url=""), "defaults.")
    topics = _topics(data.get("topic"), base_topic)
    from topicwatch.daemon.watch_config import parse_watches  # it builds on this module

    watches = parse_watches(data.get("watch"), {topic.name for topic in topics})
    per_site = _integer(data, "per_site", 1, "per_site", low=1, high=64)
    scrapyd = _scrapyd(data, base, topics, per_site)
    return Config(
        db=db,
        topics=topics,
        path=path,
        timezone=_timezone(data),
        concurrency=_integer(data, "concurrency", 2, "concurrency", low=1, high=64),
        shutdown_grace=_duration(data, "shutdown_grace", 30.0, "shutdown_grace", zero=True),
        heartbeat=_duration(data, "heartbeat", 15.0, "heartbeat", low=MIN_INTERVAL),
        backoff_max=_duration(data, "backoff_max", 6 * 3600.0, "backoff_max"),
        alerts=_alerts(_table(data, "alerts")),
        settings=_settings(_table(data, "settings")),
        crawl_workers=_integer(
            data, "crawl_workers", 2, "crawl_workers", low=0, high=MAX_CRAWL_WORKERS
        ),
        per_site=per_site,
        watches=watches,
        scrapyd=scrapyd,
    )


# --------------------------------------------------------------------------- sections


def _topics(value: Any, base: TopicConfig) -> tuple[TopicConfig, ...]:
    if value is None:
        return (_topic({"url": DEFAULT_TOPIC_URL}, base, "topic[1]."),)
    topics: list[TopicConfig] = []
    for prefix, entry in array_of_tables(value, "topic"):
        topic = _topic(entry, base, prefix)
        for other in topics:
            if other.name == topic.name:
                raise ConfigError(f"{prefix}name: duplicate topic name {_shown(topic.name)}")
            if other.url == topic.url:
                raise ConfigError(f"{prefix}url: duplicate topic URL {topic.url}")
        topics.append(topic)
    return tuple(topics)


def array_of_tables(value: Any, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each ``[[name]]`` table with the prefix of its keys in messages (``name[2].``)."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{name}: expected one or more [[{name}]] tables")
    for index, entry in enumerate(value, start=1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{name}[{index}]: expected a [[{name}]] table")
        yield f"{name}[{index}].", entry


def _topic(entry: dict[str, Any], base: TopicConfig, prefix: str) -> TopicConfig:
    _no_unknown_keys(entry, _TOPIC_KEYS, prefix)
    raw_url = _string(entry, "url", None, f"{prefix}url")
    url = canonical_url(raw_url, raw_url)  # None for one urlsplit cannot even parse
    if url is None or not urlsplit(raw_url.strip()).netloc:
        raise ConfigError(f"{prefix}url: not an http(s) URL: {_shown(raw_url)}")
    name = _string(entry, "name", topic_name_for(url), f"{prefix}name").strip()
    if not name:
        raise ConfigError(f"{prefix}name: must not be empty")
    if name in RESERVED_NAMES:
        raise ConfigError(
            f"{prefix}name: {_shown(name)} is the name of one of the daemon's own jobs; name the"
            " topic otherwise (name = ...)"
        )
    scheduled = _schedule(entry, base, prefix)
    selectors = _selectors(entry.get("selectors"), f"{prefix}selectors")
    return TopicConfig(
        name=name,
        url=url,
        every=scheduled.every,
        cron=scheduled.cron,
        jitter=scheduled.jitter,
        max_pages=scheduled.max_pages,
        timeout=scheduled.timeout,
        selectors=selectors,
        allow_hosts=scheduled.allow_hosts,
        executor=scheduled.executor,
    )


def _scrapyd(
    data: dict[str, Any], base: Path, topics: tuple[TopicConfig, ...], per_site: int
) -> ScrapydConfig | None:
    """The [scrapyd] section, required by any topic with ``executor = "scrapyd"``."""
    if "scrapyd" not in data:
        for index, topic in enumerate(topics, start=1):
            if topic.executor == "scrapyd":
                raise ConfigError(f'topic[{index}].executor: "scrapyd" needs a [scrapyd] section')
        return None
    try:
        return parse_scrapyd(_table(data, "scrapyd"), base, per_site)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _schedule(table: dict[str, Any], base: TopicConfig, prefix: str) -> TopicConfig:
    """``base`` with this table's schedule keys applied: a topic's keys beat [defaults]."""
    if "every" in table and "cron" in table:
        raise ConfigError(f"{prefix}every: give either every or cron, not both")
    every, cron = base.every, base.cron
    if "every" in table:
        every, cron = _duration(table, "every", None, f"{prefix}every", low=MIN_INTERVAL), None
    if "cron" in table:
        every, cron = None, validate_cron(_string(table, "cron", None, f"{prefix}cron"), prefix)
    return TopicConfig(
        name=base.name,
        url=base.url,
        every=every,
        cron=cron,
        jitter=_duration(table, "jitter", base.jitter, f"{prefix}jitter", zero=True),
        max_pages=_integer(table, "max_pages", base.max_pages, f"{prefix}max_pages", 1, 50),
        timeout=_duration(table, "timeout", base.timeout, f"{prefix}timeout"),
        allow_hosts=_hosts(table, base.allow_hosts, f"{prefix}allow_hosts"),
        executor=_executor(table, base.executor, f"{prefix}executor"),
    )


def _executor(table: dict[str, Any], default: str, key: str) -> str:
    value = table.get("executor", default)
    if value not in EXECUTORS:
        raise ConfigError(f"{key}: expected one of {list(EXECUTORS)}, not {_shown(value)}")
    return str(value)


def _alerts(table: dict[str, Any]) -> AlertConfig:
    _no_unknown_keys(table, _ALERT_KEYS, "alerts.")
    webhook = table.get("webhook")
    if webhook is not None:
        webhook = _string(table, "webhook", None, "alerts.webhook")
        if not _http_url(webhook):
            raise ConfigError("alerts.webhook: not an http(s) URL")  # never echo a secret
    command = table.get("command")
    if command is not None:
        if isinstance(command, str):
            command = [command]
        if not command or not all(isinstance(arg, str) and arg for arg in command):
            raise ConfigError("alerts.command: expected a list of strings, e.g. ['notify', 'ops']")
        command = tuple(command)
    after = _integer(table, "after", 3, "alerts.after", low=1, high=1000)
    return AlertConfig(after=after, webhook=webhook, command=command)


def _settings(table: dict[str, Any]) -> dict[str, str]:
    """Scrapy settings for every crawl child, passed as ``-s NAME=VALUE``."""
    settings = {}
    for name, value in table.items():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise ConfigError(f"settings.{name}: Scrapy setting names are UPPER_CASE")
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(f"settings.{name}: expected a string, number or boolean")
        if name in WHOLE_SETTINGS:  # counts: checked here, as durations are (no Scrapy)
            try:
                value = whole_number(name, value)
            except ValueError as error:
                raise ConfigError(f"settings.{name}: {error}") from None
        settings[name] = str(value)
    return settings


def _selectors(value: Any, key: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table of CSS selectors")
    for name, selector in value.items():
        if name not in SELECTOR_KEYS:
            raise ConfigError(f"unknown key {key}.{name} (expected one of {sorted(SELECTOR_KEYS)})")
        if not isinstance(selector, str) or not selector.strip():
            raise ConfigError(f"{key}.{name}: expected a CSS selector string")
        try:
            check_selector(selector)
        except ValueError as error:
            raise ConfigError(f"{key}.{name}: {error}") from None
    return dict(value)


def _http_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # "http://[::1", a port of 99999
        return False


def _hosts(table: dict[str, Any], default: tuple[str, ...], key: str) -> tuple[str, ...]:
    value = table.get("allow_hosts", default)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of host names, e.g. ['cdn.example.jp']")
    try:
        return host_entries(value)
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None


def _timezone(data: dict[str, Any]) -> str | None:
    name = data.get("timezone")
    if name is None:
        return None
    name = _string(data, "timezone", None, "timezone")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a folder of zones ("Asia") or a name too long for a file name.
        raise ConfigError(f"timezone: unknown time zone {_shown(name)}") from None
    return name


def _check_db_dir(db: Path) -> None:
    try:
        check_path_fits(db)
    except ArchiveError as error:
        raise ConfigError(f"db: {error}") from None
    if not db.parent.is_dir():
        raise ConfigError(f"db: directory does not exist: {db.parent}")
    if not os.access(db.parent, os.W_OK):
        raise ConfigError(f"db: directory is not writable: {db.parent}")
    if db.exists() and not db.is_file():
        raise ConfigError(f"db: not a file: {db}")


# --------------------------------------------------------------------------- values


def _duration(
    table: dict[str, Any],
    name: str,
    default: float | None,
    key: str,
    *,
    zero: bool = False,
    low: float = 0.0,
) -> float:
    value = table.get(name, default)
    if value is None:
        raise ConfigError(f"{key}: missing")
    try:
        seconds = duration_seconds(value)
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None
    if seconds == 0 and not zero:
        raise ConfigError(f"{key}: must be positive, not {_shown(value)}")
    if seconds < low:
        raise ConfigError(f"{key}: must be at least {format_duration(low)}, not {_shown(value)}")
    return seconds


def _integer(table: dict[str, Any], name: str, default: int, key: str, low: int, high: int) -> int:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = _shown(value)
        raise ConfigError(f"{key}: expected a whole number from {low} to {high}, not {shown}")
    return value


def _string(table: dict[str, Any], name: str, default: str | None, key: str) -> str:
    value = table.get(name, default)
    if value is None:
        raise ConfigError(f"{key}: missing")
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, not {_shown(value)}")
    return value


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a [{name}] table")
    return value


def _shown(value: object) -> str:
    """``value`` as a one-line message quotes it: its repr, cut to 60 characters (a 1 MB
    URL or list is not echoed whole)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _no_nul(value: Any, key: str) -> None:
    """Refuse a NUL character in any key or string: it ends a string in C (paths, argv,
    SQLite), so the daemon would act on less than the config says, or fail mid-run."""
    if isinstance(value, str) and "\x00" in value:
        raise ConfigError(f"{key or 'config'}: must not contain a NUL character")
    if isinstance(value, dict):
        for name, item in value.items():
            where = f"{key}.{name}" if key else str(name)
            if "\x00" in str(name):
                raise ConfigError(f"{key or 'config'}: a key contains a NUL character")
            _no_nul(item, where)
    if isinstance(value, list):
        for index, item in enumerate(value, start=1):
            _no_nul(item, f"{key}[{index}]")


def _no_unknown_keys(table: dict[str, Any], known: frozenset[str], prefix: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"unknown key {prefix}{key} (expected one of {sorted(known)})")


def validate_cron(expression: str, prefix: str = "") -> str:
    """Check a crontab expression strictly (five fields or a nickname such as ``@daily``)
    and that some day matches it; return it with single spaces."""
    try:
        fields = cron_fields(expression)
    except ValueError as error:
        raise ConfigError(f"{prefix}cron: {error}") from None
    for text, name in zip(fields, CRON_FIELDS, strict=True):
        try:
            cron_values(text, name)
        except ValueError as error:
            raise ConfigError(f"{prefix}cron: {error} in {_shown(expression)}") from None
    if never_fires(fields):
        raise ConfigError(
            f"{prefix}cron: {_shown(expression)} never runs: no month has that day (and no day of"
            " the week is given instead)"
        )
    return expression.strip().lower() if expression.strip().startswith("@") else " ".join(fields)
