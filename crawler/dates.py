"""Publication dates as Japanese listings show them, turned into ISO 8601.

Forms seen on Japanese news sites: machine-readable ``datetime`` attributes, 2026年2月13日,
2026.02.13, 2026/02/13 10:20, and relative ones (3時間前) that only mean something against
the time the page was fetched. A date without a zone is Japan time (JST, +09:00).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")

_ABSOLUTE = re.compile(
    r"(?P<y>20\d\d|19\d\d)\s*(?:年|[./-])\s*(?P<m>\d{1,2})\s*(?:月|[./-])\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\D{0,6}?(?P<H>\d{1,2})\s*(?:[:時])\s*(?P<M>\d{1,2})\s*分?)?"
)
_RELATIVE = re.compile(r"(?P<n>\d+)\s*(?P<unit>秒|分|時間|日|週間|か月|ヶ月|カ月)前")
_UNIT_SECONDS = {"秒": 1, "分": 60, "時間": 3600, "日": 86400, "週間": 604800}


def parse_date(text: str, *, fetched_at: datetime | None = None) -> str:
    """Return ISO 8601 for the first date in ``text``, or "" when there is none."""
    text = text.strip()
    if not text:
        return ""
    iso = _from_iso(text)
    if iso:
        return iso
    match = _ABSOLUTE.search(text)
    if match:
        return _from_match(match)
    relative = _RELATIVE.search(text)
    if relative and fetched_at is not None:
        return _from_relative(relative, fetched_at)
    return ""


def _from_iso(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.isoformat()


def _from_match(match: re.Match[str]) -> str:
    try:
        moment = datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(match["H"] or 0),
            int(match["M"] or 0),
            tzinfo=JST,
        )
    except ValueError:  # 2026年2月31日 and the like: not a date
        return ""
    return moment.isoformat()


def _from_relative(match: re.Match[str], fetched_at: datetime) -> str:
    amount, unit = int(match["n"]), match["unit"]
    seconds = _UNIT_SECONDS.get(unit, 30 * 86400)  # months: approximate on purpose
    moment = fetched_at.astimezone(JST) - timedelta(seconds=amount * seconds)
    return moment.replace(microsecond=0).isoformat()
