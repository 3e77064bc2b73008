"""How precise an item's publication time is, and which of two observations to keep.

A listing often shows only a date (``2026.02.14``); the crawler then writes midnight JST
(``2026-02-14T00:00:00+09:00``), while the article page read for the same item may say
18:05. That midnight is no observation: it is recorded as precision ``date``, and a time
observed later (the article page, a listing that shows times) replaces it. A value at
exactly 00:00 JST is taken for a date: an article really published at midnight is then
said to be known to the day only, which understates, never invents.
"""

from __future__ import annotations

DATE_ONLY_SUFFIX = "T00:00:00+09:00"  # what crawler.dates writes for a date without time


def precision(value: str) -> str:
    """``""`` (no value), ``"date"`` (the day only) or ``"time"`` (a time of day seen)."""
    if not value:
        return ""
    return "date" if "T" not in value or value.endswith(DATE_ONLY_SUFFIX) else "time"


def more_precise(kept: str, observed: str) -> str:
    """The value to keep: ``observed`` when it says more than ``kept`` (a time where only a
    date, or anything where nothing, was known); otherwise ``kept``."""
    rank = {"": 0, "date": 1, "time": 2}
    return observed if rank[precision(observed)] > rank[precision(kept)] else kept
