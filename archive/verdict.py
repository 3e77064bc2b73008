"""Whether a fetched listing is trustworthy enough to archive (the layout guard).

A redesign or an error page often answers 200 with no cards, or with a sidebar's five;
archiving that would mark the whole topic vanished. These rules fail such runs instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

COLLAPSE_RATIO = 0.5
RECENT_RUNS = 10


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
