"""``WHEN`` as analysts type it: ISO dates and times, or a duration ago (``30m``, ``7d``).

Relative forms are durations in the one grammar of :mod:`archive.durations` (``1h30m``,
``2w``), counted back from ``now``. The clock is read by the caller (the CLI) and passed
in, so tests and replays are deterministic. A time without an offset is UTC, like every
time in the archive; add ``+09:00`` for Japan time. The answer is always in UTC, which
also settles here, as a :class:`BadMoment`, a moment that exists in its own offset but
not in UTC (``0001-01-01T00:00+09:00``) or a relative time before year 1 (``999999999d``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from topicwatch.archive.durations import parse_duration, quoted

EXAMPLES = "2026-02-01, 2026-02-01T09:00+09:00, 30m, 24h, 7d, 2w, 1h30m"


class BadMoment(ValueError):
    """Text that is neither an ISO date/time nor a duration ago; the message says so."""


def parse_moment(text: str, now: datetime) -> datetime:
    """The moment ``text`` names, in UTC (durations count back from ``now``)."""
    value = text.strip()
    try:
        if value.lower() == "now":
            moment = now
        elif value[:1].isdigit() and value[-1:].lower() in "smhdw" and value.isascii():
            moment = now - timedelta(seconds=_ago(text, value))
        else:
            moment = _absolute(text, value)
        return moment.astimezone(UTC)
    except (OverflowError, ValueError) as error:
        if isinstance(error, BadMoment):
            raise
        raise BadMoment(
            f"out of range: {quoted(text)} (times from year 1 to 9999, in UTC)"
        ) from None


def _ago(text: str, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        raise BadMoment(f"not a time: {quoted(text)} (examples: {EXAMPLES})") from None


def _absolute(text: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadMoment(f"not a time: {quoted(text)} (examples: {EXAMPLES})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
