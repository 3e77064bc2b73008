"""The warm worker's input: order lines read off a descriptor and parsed into runs.

Pure parsing and plain reading, apart from the worker's reactor (:mod:`crawler.worker`),
so the rules for what an order may say are read and tested in one place.
"""

from __future__ import annotations

import base64
import json
import math
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from scrapy.exceptions import UsageError

from topicwatch.crawler.runs import RunOrder
from topicwatch.crawler.spiders.topic import parse_selectors, topic_url

MAX_TIMEOUT = 7 * 86400.0  # a week: a longer run timeout is a typo, not a wish


class OrderError(ValueError):
    """An order line the worker cannot run; the message says which field."""


def parse_order(line: bytes, default_timeout: float) -> tuple[Any, RunOrder]:
    """The order's id and its run, from one JSON line (OrderError when unusable)."""
    try:
        data = json.loads(line)
    except ValueError as error:
        raise OrderError(f"not JSON: {error}") from None
    if not isinstance(data, dict) or "order" not in data or not isinstance(data.get("url"), str):
        raise OrderError('expected a JSON object with "order" and "url"')
    order_id = data["order"]
    try:
        return order_id, RunOrder(
            url=topic_url(data["url"]),
            topic=str(data.get("topic") or ""),
            max_pages=_count(data.get("max_pages", 5), "max_pages"),
            exact_pages=_count(data["pages"], "pages") if data.get("pages") else None,
            selectors=parse_selectors(data.get("selectors")),
            allow_hosts=tuple(str(host) for host in data.get("allow_hosts") or ()),
            timeout=_seconds(data.get("timeout", default_timeout)),
            trigger=str(data.get("trigger") or "schedule"),
        )
    except (UsageError, TypeError) as error:
        raise OrderError(str(error)) from None


def parse_batch(text: str) -> list[RunOrder]:
    """A Scrapyd job's orders: the ``batch`` spider argument the daemon encoded (JSON,
    zlib, base64: archive.shipped_memory), each with its run id and shipped memory."""
    try:
        entries = json.loads(zlib.decompress(base64.b64decode(text)))
    except (ValueError, zlib.error) as error:
        raise UsageError(f"batch is not an encoded list of orders: {error}") from None
    orders = []
    for entry in entries:
        _, order = parse_order(json.dumps(entry).encode(), MAX_TIMEOUT)
        orders.append(replace(order, run_id=int(entry["order"]), memory=entry.get("memory")))
    return orders


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OrderError(f"{name} must be a whole number of at least 1, not {value!r}")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OrderError(f"timeout must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0 or value > MAX_TIMEOUT:
        raise OrderError(f"timeout must be more than 0 and at most a week, not {value!r}")
    return float(value)


def order_id_of(line: bytes) -> Any:
    """The order id of a line that is otherwise unusable, so the daemon can match it."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data.get("order") if isinstance(data, dict) else None


def read_lines(
    fd: int,
    hand_over: Callable[..., Any],
    take: Callable[[bytes], None],
    ended: Callable[[], None],
) -> None:
    """Read lines from ``fd`` and hand each to the reactor thread; then say it ended.

    Raw ``os.read`` on the descriptor, not ``sys.stdin``: a daemon thread blocked inside a
    buffered stream's lock can abort the interpreter at exit.
    """
    for line in _lines(fd):
        hand_over(take, line)
    hand_over(ended)


def _lines(fd: int) -> Iterator[bytes]:
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending.strip():
        yield pending
