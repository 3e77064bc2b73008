"""The ``[scrapyd]`` section: the Scrapyd nodes topics with ``executor = "scrapyd"`` run on.

Standard library only, like the rest of the config. Problems are ``ValueError`` messages
naming the key; :mod:`topicwatch.daemon.config` makes them its one-line ConfigError. The
password is read here, once, from the environment variable or file the section names,
and is never part of a message, a log line or a repr.

```toml
[scrapyd]
nodes = ["http://10.0.0.5:6800", { url = "http://10.0.0.6:6800", max_jobs = 4 }]
project = "topicwatch"
username = "topicwatch"
password_env = "TOPICWATCH_SCRAPYD_PASSWORD"   # or password_file = "/etc/topicwatch/scrapyd"
max_jobs = 2        # per node, unless the node says otherwise
batch = 8           # due topics of one site a job may carry (one start-up for all)
```
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from topicwatch import __version__
from topicwatch.archive.durations import duration_seconds
from topicwatch.origins import DEFAULT_PORTS

KEYS = frozenset(
    {"nodes", "project", "spider", "username", "password_env", "password_file", "max_jobs"}
    | {"poll", "node_grace", "max_memory", "version", "batch"}
)
MAX_MEMORY_LIMIT = 120 * 1024  # a spider argument of 128 KiB fails spawnProcess (E2BIG)


@dataclass(frozen=True)
class NodeConfig:
    url: str
    max_jobs: int


@dataclass(frozen=True)
class ScrapydConfig:
    """The nodes and how to use them (defaults documented in docs/operations.md)."""

    nodes: tuple[NodeConfig, ...]
    project: str = "topicwatch"
    spider: str = "topic"
    username: str = ""
    password: str = field(default="", repr=False)
    # The daemon's one per_site limit (top level): jobs of one site at once, across nodes.
    per_site: int = 1
    poll: float = 1.0  # seconds between status checks of a running job
    node_grace: float = 60.0  # an unreachable node's jobs are run elsewhere after this
    max_memory: int = 96 * 1024  # encoded spider argument; beyond it the topic runs locally
    version: str = __version__  # the deployed egg version each job pins ("" for none)
    # A job start costs ~1.3 s of CPU on a node: the daemon sends up to this many due
    # topics of one site in one job, each its own run (1: a job per topic).
    batch: int = 8


def parse_scrapyd(table: dict[str, Any], base: Path, per_site: int = 1) -> ScrapydConfig:
    """The section, checked; raises ValueError("key: problem").

    ``per_site`` is the daemon's top-level limit: one limit serves local crawls and jobs on
    nodes alike, so the section has no key of its own for it.
    """
    if "per_site" in table:
        raise ValueError(
            "scrapyd.per_site: set per_site at the top level (one limit for local crawls "
            "and jobs on nodes)"
        )
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ValueError(f"unknown key scrapyd.{unknown[0]} (expected one of {sorted(KEYS)})")
    max_jobs = _whole(table, "max_jobs", 2, 1, 256)
    nodes = _nodes(table.get("nodes"), max_jobs)
    username = _text(table, "username", "")
    if ":" in username:  # basic auth splits user from password at the first colon
        raise ValueError("scrapyd.username: a user name cannot hold ':'")
    return ScrapydConfig(
        nodes=nodes,
        project=_name(table, "project", "topicwatch"),
        spider=_name(table, "spider", "topic"),
        username=username,
        password=_password(table, base) if username else "",
        per_site=per_site,
        poll=_seconds(table, "poll", 1.0, 0.1, 600.0),
        node_grace=_seconds(table, "node_grace", 60.0, 1.0, 86400.0),
        max_memory=_whole(table, "max_memory", 96 * 1024, 1024, MAX_MEMORY_LIMIT),
        version=_text(table, "version", __version__),
        batch=_whole(table, "batch", 8, 1, 64),
    )


def _nodes(value: Any, max_jobs: int) -> tuple[NodeConfig, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError('scrapyd.nodes: expected a list of node URLs, e.g. ["http://host:6800"]')
    nodes: list[NodeConfig] = []
    for index, entry in enumerate(value, start=1):
        key = f"scrapyd.nodes[{index}]"
        if isinstance(entry, dict):
            if set(entry) - {"url", "max_jobs"}:
                raise ValueError(f"{key}: expected url and max_jobs only")
            url, limit = entry.get("url"), _whole(entry, "max_jobs", max_jobs, 1, 256, key)
        else:
            url, limit = entry, max_jobs
        if not isinstance(url, str) or not _http_url(url):
            raise ValueError(f"{key}: not an http(s) URL with a host (and a port from 1 to 65535)")
        if "@" in urlsplit(url).netloc:
            # Never echoed: the URL holds a password, and it would be in every node error.
            raise ValueError(f"{key}: credentials go in username and password_env, not the URL")
        url = url.rstrip("/")
        if any(_same_node(node.url, url) for node in nodes):
            raise ValueError(f"{key}: duplicate node {url}")
        nodes.append(NodeConfig(url, limit))
    return tuple(nodes)


def _password(table: dict[str, Any], base: Path) -> str:
    """From the environment variable or the file the section names (never the config).
    Never empty: scrapyd turns its basic auth on only with a password, so an empty one is
    a variable left unexported or a file left unfilled, which every node would refuse."""
    password = _password_source(table, base)
    if not password:
        key = "password_env" if "password_env" in table else "password_file"
        raise ValueError(f"scrapyd.{key}: the password it gives is empty")
    return password


def _password_source(table: dict[str, Any], base: Path) -> str:
    if "password_env" in table and "password_file" in table:
        raise ValueError("scrapyd.password_env: give password_env or password_file, not both")
    if "password_env" in table:
        name = _text(table, "password_env", "")
        if name not in os.environ:
            raise ValueError(f"scrapyd.password_env: the environment has no {name}")
        return os.environ[name]
    if "password_file" in table:
        path = base / _text(table, "password_file", "")
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"scrapyd.password_file: cannot read {path} ({error})") from None
    raise ValueError("scrapyd.username: give password_env or password_file with it")


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError: not a number, or out of range
        return (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and not (parts.query or parts.fragment)
            and port != 0
            and url == url.strip()
        )
    except ValueError:
        return False


def _same_node(one: str, other: str) -> bool:
    """Two spellings of one node (``HTTP://Host`` and ``http://host:80``): its job limit
    would count twice."""

    def key(url: str) -> tuple[str, str | None, int | None, str]:
        parts = urlsplit(url)
        return (
            parts.scheme.lower(),
            parts.hostname,
            parts.port or DEFAULT_PORTS.get(parts.scheme.lower()),
            parts.path.rstrip("/"),
        )

    return key(one) == key(other)


def _name(table: dict[str, Any], name: str, default: str) -> str:
    """A Scrapyd project or spider name: it is a path segment of the feed's URL."""
    value = _text(table, name, default) or default
    if not re.fullmatch(r"[\w-]+(\.[\w-]+)*", value):
        raise ValueError(f"scrapyd.{name}: expected a name of letters, digits, _ - and .")
    return value


def _text(table: dict[str, Any], name: str, default: str) -> str:
    value = table.get(name, default)
    if not isinstance(value, str):
        raise ValueError(f"scrapyd.{name}: expected a string")
    return value


def _whole(
    table: dict[str, Any], name: str, default: int, low: int, high: int, key: str = "scrapyd"
) -> int:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key}.{name}: expected a whole number from {low} to {high}")
    return value


def _seconds(table: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    try:
        seconds = duration_seconds(table.get(name, default))
    except ValueError as error:
        raise ValueError(f"scrapyd.{name}: {error}") from None
    if not math.isfinite(seconds) or not low <= seconds <= high:
        raise ValueError(f"scrapyd.{name}: expected {low:g}s to {high:g}s")
    return seconds
