"""ISO 8601 UTC timestamps, the archive's only time format.

Times are always passed in by the caller (the crawl, the CLI, a test's frozen clock);
nothing in `archive/` reads the clock, so replays and tests are deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with seconds precision and a 'Z'-free offset."""
    if moment.tzinfo is None:
        raise ValueError("archive times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(value: str) -> datetime:
    """Parse a timestamp written by :func:`iso` (or any ISO 8601 form with an offset)."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
