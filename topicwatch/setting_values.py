"""Whole-number crawl settings and the ranges a crawl can live with, checked without Scrapy.

Scrapy reads a count (``CONCURRENT_REQUESTS``, ``RETRY_TIMES``, a page cap) with
``getint`` when a component starts, inside the crawl child: ``"1.5"`` there is a
``ValueError`` and a crashed run, on every run, while ``-1``, ``0`` or
``99999999999999999999`` parse and then stall the downloader, retry for ever or lift a
cap. The daemon checks its config's ``[settings]`` at load, as it checks durations, and
``topicwatch crawl -s`` checks the same way, so either refuses at once with one line.
Standard library only: the daemon imports this and never Scrapy.
"""

from __future__ import annotations

import re

# Counts a crawl reads, and the values that leave it able to work. 0 switches a
# CLOSESPIDER_* or DEPTH_LIMIT off (Scrapy's meaning); a size of 0 would mean no limit.
WHOLE_SETTINGS: dict[str, tuple[int, int]] = {
    "CONCURRENT_REQUESTS": (1, 256),
    "CONCURRENT_REQUESTS_PER_DOMAIN": (1, 256),
    "CONCURRENT_REQUESTS_PER_IP": (0, 256),
    "CONCURRENT_ITEMS": (1, 10_000),
    "REACTOR_THREADPOOL_MAXSIZE": (1, 256),
    "RETRY_TIMES": (0, 100),
    "REDIRECT_MAX_TIMES": (0, 100),
    "DEPTH_LIMIT": (0, 10_000),
    "DOWNLOAD_MAXSIZE": (1, 1 << 30),
    "DOWNLOAD_WARNSIZE": (0, 1 << 30),
    "URLLENGTH_LIMIT": (1, 1 << 20),
    "METAREFRESH_MAXDELAY": (0, 366 * 86400),
    "DNSCACHE_SIZE": (0, 1_000_000),
    "MEMUSAGE_LIMIT_MB": (0, 1 << 20),
    "MEMUSAGE_WARNING_MB": (0, 1 << 20),
    "CLOSESPIDER_PAGECOUNT": (0, 1_000_000_000),
    "CLOSESPIDER_ITEMCOUNT": (0, 1_000_000_000),
    "CLOSESPIDER_ERRORCOUNT": (0, 1_000_000_000),
    "TOPICWATCH_MAX_PAGES_HARD": (1, 1000),
    "TOPICWATCH_ENRICH_MAX": (0, 1000),
}
# Any other count Scrapy reads: a whole number that fits a C long, never a text of
# thousands of digits.
ANY_WHOLE = (-(1 << 63), (1 << 63) - 1)
_WHOLE = re.compile(r"[+-]?[0-9]{1,19}")


def whole_number(name: str, value: object) -> int:
    """The count ``value`` gives setting ``name``; ValueError (one line) unless it is a
    whole number within :data:`WHOLE_SETTINGS`' range for it (any 64-bit one otherwise).

    ``value`` is what the operator wrote: a TOML integer, or the text of ``-s NAME=VALUE``
    (``2.0`` and ``1e3`` are refused, as Scrapy's ``getint`` refuses them).
    """
    low, high = WHOLE_SETTINGS.get(name, ANY_WHOLE)
    wanted = "a whole number" + ("" if name not in WHOLE_SETTINGS else f" from {low} to {high}")
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError(f"expected {wanted}, not {_shown(value)}")
    if not low <= number <= high:
        raise ValueError(f"expected {wanted}, not {number}")
    return number


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
