"""Whether a fetched listing is trustworthy enough to archive (the layout guard).

A redesign or an error page often answers 200 with no cards, or with a sidebar's five;
archiving that would mark the whole topic vanished. A site-wide widget ("新着記事") left
standing when the topic's own list is gone is worse: a full list of real articles, most
of them from other topics, that would be archived as new items and edits. These rules
fail such runs instead:

* **count** – page 1 parsed no items, or under half the usual number;
* **continuity** – a topic's listing is newest first, so what a run reads, from the top
  down past the new items, is the topic's previous listing again, in its order. A run
  that read to the end of the listing (not stopped by the page limit or an unreadable
  page while looking) and keeps fewer than :data:`CONFIRM` of the items the topic listed
  last time in their order is not the topic's listing — unless it is explained: by the
  time since the topic's last run (its pace could have replaced them all), or by the new
  items being mostly dated after everything it listed last time.

The crawl reads on (up to its page limit) while a listing is not yet confirmed this way,
so a genuine burst of new items confirms itself on the next page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median

COLLAPSE_RATIO = 0.5
RECENT_RUNS = 10
MIN_PREVIOUS = 3  # a listing of fewer items says too little to judge continuity against
CONFIRM = 3  # previous items, in their order, that show a listing is the topic's own
QUIET_TURNOVER_SECONDS = 86_400.0  # with no dates to go by, a day may turn a listing over


@dataclass(frozen=True)
class Continuity:
    """How this run's listing relates to the topic's previous one (see the module doc)."""

    previous_listed: int
    kept_in_order: int  # items of the previous listing this run lists in their old order
    new_dates: tuple[str, ...]  # publication dates of the run's items new to the topic
    stopped_looking: bool  # more pages were there, unread (page limit, unreadable page)


@dataclass(frozen=True)
class Pace:
    """How fast the topic turns over: its last listing's publication dates, and the time
    since its previous ok run (seconds; never negative, whatever the clock did)."""

    listed_dates: tuple[str, ...]
    elapsed: float


def layout_failure(first_page_items: int | None, recent: Sequence[int]) -> str | None:
    """Return why the parsed first page cannot be trusted, or None when it can.

    ``first_page_items`` is None when page 1 answered 304 (nothing parsed, nothing to judge);
    ``recent`` holds the first-page counts of the topic's recent ok runs.
    """
    if first_page_items is None:
        return None
    if first_page_items == 0:
        return "page 1 answered 200 but no listing items were found"
    if recent:
        usual = median(recent)
        if first_page_items < usual * COLLAPSE_RATIO:
            return (
                f"page 1 listed {first_page_items} items, under half the usual {usual:g}"
                f" of the last {len(recent)} ok runs"
            )
    return None


def continuity_failure(continuity: Continuity, pace: Pace) -> str | None:
    """Return why the listing is not the topic's own (a widget, another list), or None."""
    need = min(CONFIRM, continuity.previous_listed)
    if continuity.previous_listed < MIN_PREVIOUS or continuity.kept_in_order >= need:
        return None
    if continuity.stopped_looking:
        return None
    if pace.elapsed >= _turnover_seconds(pace.listed_dates, continuity.previous_listed):
        return None
    if _mostly_newer(continuity.new_dates, pace.listed_dates):
        return None
    return (
        f"the listing keeps {continuity.kept_in_order} of the {continuity.previous_listed}"
        " items the topic listed last time in their order, too soon for the topic's pace"
        " to replace them: not the topic's own list (a site-wide widget?)"
    )


def confirmed(kept: int, previous_listed: int) -> bool:
    """Whether a listing read so far confirms the topic's previous one (read on if not)."""
    return previous_listed < MIN_PREVIOUS or kept >= min(CONFIRM, previous_listed)


def _mostly_newer(new_dates: Sequence[str], previous_dates: Sequence[str]) -> bool:
    """At least half the new items dated after every item of the previous listing."""
    newest = max((m for d in previous_dates if (m := _parsed(d)) is not None), default=None)
    if newest is None or not new_dates:
        return False
    later = sum(1 for d in new_dates if (m := _parsed(d)) is not None and m > newest)
    return later * 2 >= len(new_dates)


def _turnover_seconds(dates: Sequence[str], count: int) -> float:
    """How long the topic took to publish its last listing's worth of items."""
    valid = sorted(moment for date in dates if (moment := _parsed(date)) is not None)
    if len(valid) < MIN_PREVIOUS:
        return QUIET_TURNOVER_SECONDS
    span = (valid[-1] - valid[0]).total_seconds()
    return span * count / (len(valid) - 1) if span > 0 else QUIET_TURNOVER_SECONDS


def _parsed(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
