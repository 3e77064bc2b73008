"""Crontab fields as crontab(5) reads them: ranges, steps, lists, names; Sunday is 0 and 7.

Parsed here rather than by APScheduler because APScheduler 3.x counts weekdays from
Monday (agronholm/apscheduler#286): the config is checked, and the trigger is built, from
the values a field selects. Standard library only.
"""

from __future__ import annotations

import re

# (name, low, high, names): standard crontab fields; day of week 0 and 7 are Sunday.
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    (
        "month",
        1,
        12,
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
CRON_FIELDS = tuple(spec[0] for spec in _FIELDS)
_CRON_ITEM = re.compile(r"(?:\*|(?P<first>\w+)(?:-(?P<last>\w+))?)(?:/(?P<step>\d+))?")


def cron_values(text: str, field_name: str) -> set[int]:
    """The values one crontab field selects (``*/15`` → {0, 15, 30, 45}); ValueError if bad."""
    name, low, high, names = next(spec for spec in _FIELDS if spec[0] == field_name)
    selected: set[int] = set()
    for item in text.lower().split(","):
        match = _CRON_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"bad {name} field {text!r}")
        first = _cron_number(match["first"], low, names, name) if match["first"] else low
        if match["last"]:
            last = _cron_number(match["last"], low, names, name)
        else:
            last = high if match["first"] is None or match["step"] else first
        step = int(match["step"] or 1)
        if not low <= first <= last <= high or step < 1:
            raise ValueError(f"bad {name} field {text!r} (allowed {low}-{high})")
        selected.update(range(first, last + 1, step))
    return selected


def _cron_number(token: str, low: int, names: tuple[str, ...], field_name: str) -> int:
    if token.isdigit():
        return int(token)
    if token in names:
        return names.index(token) + (1 if low == 1 else 0)
    raise ValueError(f"bad {field_name} value {token!r}")
