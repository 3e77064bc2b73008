"""Whether a fetched listing is trustworthy enough to archive (the layout guard).

A redesign or an error page often answers 200 with no cards, or with a sidebar's five;
archiving that would mark the whole topic vanished. A site-wide widget ("新着記事") left
standing when the topic's own list is gone is worse: a full list of real articles, most
of them from other topics, that would be archived as new items and edits. These rules
fail such runs instead:

* **count** – page 1 parsed no items, or under half the usual number;
* **continuity** – a topic's listing is newest first, so what follows an item it listed
  last time are the items it listed after it, older ones. A list that continues below
  such an item with several items the topic never listed, where the topic listed others,
  is not the topic's listing;
* **overlap** – a listing that shares no item with the topic's last one, read to its end
  (not stopped by the page limit or an unreadable page while looking for known items),
  when the topic's pace cannot explain a complete turnover since its last run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median

COLLAPSE_RATIO = 0.5
RECENT_RUNS = 10
MIN_PREVIOUS = 3  # a listing of fewer items says too little to judge overlap against
FOREIGN_TAIL = 3  # new items below the last known one, before the listing is doubted
QUIET_TURNOVER_SECONDS = 86_400.0  # with no dates to go by, a day may turn a listing over


@dataclass(frozen=True)
class Continuity:
    """How this run's listing relates to the topic's previous one (see the module doc).

    ``below_last_known``: the run's items after the last previously listed item that kept
    its order (None when the run lists none of them); ``previous_below``: how many items
    the previous listing had after that item.
    """

    previous_listed: int
    shared: int
    below_last_known: tuple[bool, ...] | None  # per item below it: is it new to the topic?
    previous_below: int
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


def overlap_failure(continuity: Continuity, pace: Pace) -> str | None:
    """Return why the listing is not the topic's own (a widget, another list), or None."""
    if continuity.previous_listed < MIN_PREVIOUS:
        return None
    below = continuity.below_last_known
    if below is not None:
        foreign = sum(below)
        if continuity.previous_below and foreign >= FOREIGN_TAIL and foreign * 2 > len(below):
            return (
                f"the listing continues below the topic's known items with {foreign} items the"
                f" topic never listed, where it listed {continuity.previous_below} others:"
                " not the topic's own list (a site-wide widget?)"
            )
        return None
    if continuity.shared or continuity.stopped_looking:
        return None
    if pace.elapsed >= _turnover_seconds(pace.listed_dates, continuity.previous_listed):
        return None
    return (
        f"the listing shares none of the {continuity.previous_listed} items the topic listed"
        " last time, too soon for the topic's pace to replace them all: not the topic's own"
        " list (a site-wide widget?)"
    )


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
