"""Durations, one grammar for every part of topicwatch.

``s``, ``m`` (minutes), ``h``, ``d``, ``w``, combinable and with decimals: ``90s``,
``30m``, ``1h30m``, ``1.5h``, ``2w``. The daemon's schedules, timeouts and grace periods,
``crawl --wait``, and the analysts' relative times (``--since 7d``, ``prune --keep 90d``)
all read durations here, so a unit never means one thing in one place and another
elsewhere.
"""

from __future__ import annotations

import math
import re

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Longer than any schedule, timeout or wait means something else was meant; and beyond
# what datetime, timers and APScheduler can add to "now" lies an overflow mid-run.
MAX_DURATION = 366 * 86400.0
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
EXAMPLES = "'90s', '30m', '1h30m', '2d' or '2w'"


def parse_duration(text: str) -> float:
    """Seconds a duration text names; ValueError unless it is one (see the module doc)."""
    compact = text.replace(" ", "").lower()
    if not compact or not compact.isascii() or _PART.sub("", compact):
        raise ValueError(f"bad duration {quoted(text)} (use s, m, h, d or w, e.g. {EXAMPLES})")
    return sum(float(n) * UNIT_SECONDS[unit] for n, unit in _PART.findall(compact))


def duration_seconds(value: object) -> float:
    """The seconds a duration names (a text as above, or a number of seconds), checked.

    ValueError unless it is a finite number from 0 to :data:`MAX_DURATION`: ``nan``,
    ``inf``, ``1e300`` and ``99999999999d`` parse, and then overflow a timer or a date
    later, in a daemon already running.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a duration such as {EXAMPLES}")
    try:
        seconds = parse_duration(value) if isinstance(value, str) else float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError(
            f"{quoted(value)} is out of range (at most {format_duration(MAX_DURATION)})"
        )
    if seconds < 0:
        raise ValueError(f"must be at least 0, not {quoted(value)}")
    return seconds


def quoted(value: object) -> str:
    """``value`` as an error message quotes it: its repr, cut to 60 characters, so that
    a megabyte of input does not become a megabyte of error line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration`, in the largest exact unit (``1800`` → ``30m``)."""
    for unit in ("w", "d", "h", "m"):
        size = UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
