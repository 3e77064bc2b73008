"""Publication dates as Japanese listings show them, turned into ISO 8601.

Forms seen on Japanese news sites: machine-readable ``datetime`` attributes, 2026年2月13日,
2026.02.13, 2026/02/13 10:20, and relative ones (3時間前) that only mean something against
the time the page was fetched. A date without a zone is Japan time (JST, +09:00).

Reading a date never raises, whatever the page holds: a text that is written like a date
but names no representable moment (2026年2月31日, 1000000日前) is *unreadable*, and the
card's date is then dropped and counted rather than failing the page. Only the first
:data:`~crawler.extracted.DATE_TEXT_CAP` characters are read, and every pattern is linear.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from topicwatch.crawler.extracted import DATE_TEXT_CAP

JST = timezone(timedelta(hours=9), "JST")

_ABSOLUTE = re.compile(
    r"(?P<y>20\d\d|19\d\d)\s*(?:年|[./-])\s*(?P<m>\d{1,2})\s*(?:月|[./-])\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\D{0,6}?(?P<H>\d{1,2})\s*(?:[:時])\s*(?P<M>\d{1,2})\s*分?)?"
)
# A whole number (never the tail of a longer one), taken without backtracking into it.
_RELATIVE = re.compile(
    r"(?<!\d)(?P<n>\d++)\s*(?:(?P<unit>秒|分|時間|日|週間|週|か月|ヶ月|カ月|ヵ月|ケ月|年)\s?前"
    r"|(?P<en>(?i:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?))\s+ago)"
)
_UNIT_SECONDS = {"秒": 1, "分": 60, "時間": 3600, "日": 86400, "週間": 604800, "週": 604800}
_EN_UNITS = {"s": "秒", "m": "分", "h": "時間", "d": "日", "w": "週", "y": "年"}
_MONTH, _YEAR = 30 * 86400, 365 * 86400  # approximate on purpose
_MAX_RELATIVE_DIGITS = 6  # 999999日前 is already ~2,700 years


class DateReading(NamedTuple):
    """A date as ISO 8601 ("" when none), and whether the text held an unreadable one."""

    iso: str
    unreadable: bool = False


def parse_date(text: str, *, fetched_at: datetime | None = None) -> str:
    """Return ISO 8601 for the first date in ``text``, or "" when there is none."""
    return read_date(text, fetched_at=fetched_at).iso


def read_date(text: str, *, fetched_at: datetime | None = None) -> DateReading:
    """Read the first date in ``text``; never raises (see the module's docstring)."""
    text = text.strip()
    # NFKC: ２０２６年１２月３日 and ３時間前 are the same dates as their half-width forms.
    capped = unicodedata.normalize("NFKC", text[:DATE_TEXT_CAP])
    reading = _read(capped, fetched_at)
    if not reading.iso and len(text) > len(capped):
        return DateReading("", True)  # cut at the cap with no date in it: not a date text
    return reading


def _read(text: str, fetched_at: datetime | None) -> DateReading:
    if not text:
        return DateReading("")
    iso = _from_iso(text)
    if iso:
        return DateReading(iso)
    match = _ABSOLUTE.search(text)
    if match:
        return _from_match(match)
    relative = _RELATIVE.search(text)
    if relative and fetched_at is not None:
        return _from_relative(relative, fetched_at)
    return DateReading("")


def _from_iso(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.isoformat()


def _from_match(match: re.Match[str]) -> DateReading:
    try:
        moment = datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(match["H"] or 0),
            int(match["M"] or 0),
            tzinfo=JST,
        )
    except ValueError:  # 2026年2月31日 and the like: written as a date, yet none
        return DateReading("", True)
    return DateReading(moment.isoformat())


def _from_relative(match: re.Match[str], fetched_at: datetime) -> DateReading:
    if len(match["n"]) > _MAX_RELATIVE_DIGITS:
        return DateReading("", True)
    amount, unit = int(match["n"]), match["unit"] or _english_unit(match["en"])
    seconds = _UNIT_SECONDS.get(unit, _YEAR if unit == "年" else _MONTH)
    try:
        moment = fetched_at.astimezone(JST) - timedelta(seconds=amount * seconds)
    except OverflowError:  # before year 1
        return DateReading("", True)
    return DateReading(moment.replace(microsecond=0).isoformat())


def _english_unit(word: str) -> str:
    """``hours`` -> 時間, ``mins`` -> 分, ``months`` -> a month unit (ヶ月)."""
    word = word.lower()
    return "ヶ月" if word.startswith("mo") else _EN_UNITS[word[0]]
