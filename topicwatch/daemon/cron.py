"""Crontab expressions as crontab(5) reads them: ranges, steps, lists, names, nicknames.

Sunday is 0 and 7; ``@hourly``, ``@daily``/``@midnight``, ``@weekly``, ``@monthly`` and
``@yearly``/``@annually`` stand for their five fields. When both day of month and day of
week are restricted (neither starts with ``*``), a day matching *either* is a run day:
``0 9 13 * 5`` runs every 13th and every Friday. Parsed here rather than by APScheduler,
which counts weekdays from Monday (agronholm/apscheduler#286) and requires both day
fields to match: the config is checked, and the trigger is built, from the values each
field selects. Standard library only.
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
NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_ITEM = re.compile(r"(?:\*|(?P<first>\w+)(?:-(?P<last>\w+))?)(?:/(?P<step>\d+))?")
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February of leap years


def cron_fields(expression: str) -> list[str]:
    """The five fields of an expression, a nickname expanded; ValueError if not five."""
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in NICKNAMES:
            raise ValueError(f"unknown nickname {text!r} (known: {', '.join(NICKNAMES)})")
        text = NICKNAMES[text.lower()]
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"expected 5 fields (minute hour day month weekday) or a nickname, got {expression!r}"
        )
    return fields


def cron_values(text: str, field_name: str) -> set[int]:
    """The values one crontab field selects (``*/15`` → {0, 15, 30, 45}); ValueError if bad."""
    name, low, high, names = next(spec for spec in _FIELDS if spec[0] == field_name)
    span = high - low + (0 if name == "day of week" else 1)  # 0 and 7 are one day
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
        if not low <= first <= last <= high:
            raise ValueError(f"bad {name} field {text!r} (allowed {low}-{high})")
        if not 1 <= step <= span:
            raise ValueError(f"bad {name} field {text!r} (a step of 1 to {span})")
        selected.update(range(first, last + 1, step))
    return selected


def restricted(text: str) -> bool:
    """crontab(5): a day field is restricted unless it starts with ``*``."""
    return not text.startswith("*")


def never_fires(fields: list[str]) -> bool:
    """Whether no date can ever match: a day of month no selected month has (``30 2``)
    and no day of week to match instead."""
    days, months, weekdays = fields[2], fields[3], fields[4]
    if not restricted(days) or (restricted(weekdays)):
        return False  # any month's 1st, or (either-or) a weekday, comes round
    longest = max(_LONGEST_MONTH[month - 1] for month in cron_values(months, "month"))
    return min(cron_values(days, "day of month")) > longest


def _cron_number(token: str, low: int, names: tuple[str, ...], field_name: str) -> int:
    if token.isascii() and token.isdigit():
        return int(token)
    if token in names:
        return names.index(token) + (1 if low == 1 else 0)
    raise ValueError(f"bad {field_name} value {token!r}")
