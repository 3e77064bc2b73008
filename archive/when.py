"""``WHEN`` as analysts type it: ISO dates and times, or relative ``30m``, ``24h``, ``7d``.

The clock is read by the caller (the CLI) and passed in as ``now``, so tests and replays
are deterministic. A time without an offset is UTC, like every time in the archive; add
``+09:00`` for Japan time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"(?P<count>\d+)\s*(?P<unit>[smhdw])", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EXAMPLES = "2026-02-01, 2026-02-01T09:00+09:00, 30m, 24h, 7d, 2w"


class BadWhen(ValueError):
    """Text that is neither an ISO date/time nor a relative time; the message says so."""


def parse_when(text: str, now: datetime) -> datetime:
    """The moment ``text`` names, as an aware datetime (relative forms count back from now)."""
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        unit = _UNITS[relative["unit"].lower()]
        return now - timedelta(**{unit: int(relative["count"])})
    if value.lower() == "now":
        return now
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadWhen(f"not a time: {text!r} (examples: {EXAMPLES})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
