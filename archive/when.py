"""``WHEN`` as analysts type it: ISO dates and times, or relative ``30m``, ``24h``, ``7d``.

The clock is read by the caller (the CLI) and passed in as ``now``, so tests and replays
are deterministic. A time without an offset is UTC, like every time in the archive; add
``+09:00`` for Japan time. The answer is always in UTC, which also settles here, as a
:class:`BadWhen`, a moment that exists in its own offset but not in UTC
(``0001-01-01T00:00+09:00``) or a relative time before year 1 (``999999999d``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"(?P<count>[0-9]+)\s*(?P<unit>[smhdw])", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EXAMPLES = "2026-02-01, 2026-02-01T09:00+09:00, 30m, 24h, 7d, 2w"


class BadWhen(ValueError):
    """Text that is neither an ISO date/time nor a relative time; the message says so."""


def parse_when(text: str, now: datetime) -> datetime:
    """The moment ``text`` names, in UTC (relative forms count back from now)."""
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    try:
        if relative:
            unit = _UNITS[relative["unit"].lower()]
            moment = now - timedelta(**{unit: int(relative["count"])})
        elif value.lower() == "now":
            moment = now
        else:
            moment = _absolute(text, value)
        return moment.astimezone(UTC)
    except (OverflowError, ValueError) as error:
        if isinstance(error, BadWhen):
            raise
        raise BadWhen(f"out of range: {text!r} (times from year 1 to 9999, in UTC)") from None


def _absolute(text: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadWhen(f"not a time: {text!r} (examples: {EXAMPLES})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
