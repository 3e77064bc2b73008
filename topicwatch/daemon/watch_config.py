"""``[[watch]]`` tables: who hears of which changes, checked completely at load.

A watch names the topics (or all), the change kinds, an optional query in ``topicwatch
search`` syntax, one or more destinations and a digest period. A destination is an
Apprise URL (``json://``, ``mailto://``, ``ntfy://``, ``slack://``, …), or a table
``{ webhook = "https://…" }`` / ``{ command = ["notify", "ops"] }`` delivered like the
alert hooks. An unknown kind, an empty query or a URL Apprise does not know is one
:class:`ConfigError`. Apprise is imported only when a watch names an Apprise URL.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from topicwatch.archive.change_feed import KINDS
from topicwatch.archive.durations import duration_seconds
from topicwatch.archive.search import EmptyQuery, query_words
from topicwatch.archive.watches import WatchRule
from topicwatch.daemon.config import (
    ConfigError,
    _http_url,
    _no_unknown_keys,
    _shown,
    _string,
    array_of_tables,
)

_WATCH_KEYS = frozenset({"name", "topics", "kinds", "query", "notify", "digest"})
MAX_NAME = 100


@dataclass(frozen=True)
class Destination:
    """Where a watch's messages go: ``apprise`` (a URL), ``webhook`` (a URL) or ``command``."""

    kind: str
    target: str | tuple[str, ...]

    @property
    def key(self) -> str:
        """The outbox's name for it: kind and a hash of the target, never the target
        (Apprise URLs and webhooks carry tokens)."""
        text = "\0".join(self.target) if isinstance(self.target, tuple) else self.target
        return f"{self.kind}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    @property
    def label(self) -> str:
        """A log-safe name: scheme, host and port of a URL, a command's program name."""
        if isinstance(self.target, tuple):
            return f"command {os.path.basename(self.target[0])}"
        from topicwatch.daemon.hooks import mask_url

        return f"{self.kind} {mask_url(self.target)}"


@dataclass(frozen=True)
class WatchConfig:
    """One ``[[watch]]``: its :class:`WatchRule` and its destinations."""

    name: str
    kinds: tuple[str, ...]
    topics: tuple[str, ...] | None
    query: str | None
    notify: tuple[Destination, ...]
    digest: float

    @property
    def rule(self) -> WatchRule:
        keys = tuple(d.key for d in self.notify)
        return WatchRule(self.name, self.kinds, self.topics, self.query, self.digest, keys)

    def destination(self, key: str) -> Destination | None:
        return next((d for d in self.notify if d.key == key), None)


def parse_watches(value: Any, topic_names: set[str]) -> tuple[WatchConfig, ...]:
    """The ``[[watch]]`` array of tables (absent: no watches)."""
    if value is None:
        return ()
    watches: list[WatchConfig] = []
    for prefix, entry in array_of_tables(value, "watch"):
        watch = _watch(entry, topic_names, prefix)
        if any(other.name == watch.name for other in watches):
            raise ConfigError(f"{prefix}name: duplicate watch name {_shown(watch.name)}")
        watches.append(watch)
    return tuple(watches)


def _watch(entry: dict[str, Any], topic_names: set[str], prefix: str) -> WatchConfig:
    _no_unknown_keys(entry, _WATCH_KEYS, prefix)
    name = _string(entry, "name", None, f"{prefix}name").strip()
    if not name or len(name) > MAX_NAME or "/" in name or not name.isprintable():
        raise ConfigError(
            f"{prefix}name: expected 1 to {MAX_NAME} printable characters without '/',"
            f" not {_shown(name)}"
        )
    return WatchConfig(
        name=name,
        kinds=_kinds(entry.get("kinds", list(KINDS)), f"{prefix}kinds"),
        topics=_topics(entry.get("topics", "all"), topic_names, f"{prefix}topics"),
        query=_query(entry, f"{prefix}query"),
        notify=_notify(entry.get("notify"), f"{prefix}notify"),
        digest=_digest(entry.get("digest", "0"), f"{prefix}digest"),
    )


def _kinds(value: Any, key: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{key}: expected a list of change kinds, e.g. ['new', 'edited']")
    for kind in values:
        if kind not in KINDS:
            raise ConfigError(
                f"{key}: unknown kind {_shown(kind)} (expected some of {list(KINDS)})"
            )
    return tuple(k for k in KINDS if k in values)


def _topics(value: Any, topic_names: set[str], key: str) -> tuple[str, ...] | None:
    if value == "all":
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ConfigError(f'{key}: expected "all" or a list of topic names')
    for name in values:
        if name not in topic_names:
            raise ConfigError(f"{key}: no [[topic]] is named {_shown(name)}")
    return tuple(dict.fromkeys(values))


def _query(entry: dict[str, Any], key: str) -> str | None:
    if "query" not in entry:
        return None
    query = _string(entry, "query", None, key)
    try:
        query_words(query)
    except EmptyQuery:
        raise ConfigError(
            f"{key}: the query is empty (leave query out to match everything)"
        ) from None
    return query


def _digest(value: Any, key: str) -> float:
    if value in ("0", 0) and not isinstance(value, bool):
        return 0.0
    try:
        seconds = duration_seconds(value)
    except ValueError as error:
        raise ConfigError(f'{key}: {error} ("0" sends at once; or a period such as "1h")') from None
    if 0 < seconds < 60:
        raise ConfigError(f"{key}: a digest period is at least 1m, not {_shown(value)}")
    return seconds


def _notify(value: Any, key: str) -> tuple[Destination, ...]:
    values = [value] if isinstance(value, str | dict) else value
    if not isinstance(values, list) or not values:
        raise ConfigError(
            f"{key}: expected one or more destinations (Apprise URLs, {{webhook = …}})"
        )
    destinations = tuple(_destination(v, f"{key}[{n}]") for n, v in enumerate(values, start=1))
    if len({d.key for d in destinations}) < len(destinations):
        raise ConfigError(f"{key}: a destination is listed twice")
    return destinations


def _destination(value: Any, key: str) -> Destination:
    if isinstance(value, str):
        if not _apprise_knows(value):
            # Never echo the URL: it may hold a token.
            raise ConfigError(f"{key}: not a URL Apprise can notify (see Apprise's URL list)")
        return Destination("apprise", value)
    if isinstance(value, dict) and set(value) == {"webhook"}:
        if not isinstance(value["webhook"], str) or not _http_url(value["webhook"]):
            raise ConfigError(f"{key}.webhook: not an http(s) URL")
        return Destination("webhook", value["webhook"])
    if isinstance(value, dict) and set(value) == {"command"}:
        argv = value["command"]
        argv = [argv] if isinstance(argv, str) else argv
        if (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(a, str) and a for a in argv)
        ):
            raise ConfigError(f"{key}.command: expected a list of strings, e.g. ['notify', 'ops']")
        return Destination("command", tuple(argv))
    raise ConfigError(
        f'{key}: expected an Apprise URL, {{webhook = "https://…"}} or {{command = [...]}}'
    )


def _apprise_knows(url: str) -> bool:
    import apprise  # only configs with watches pay for it

    return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None
