"""The extractor's unit of output, shared by the card heuristics and structured data.

Every entry leaves the extractor through :func:`make_entry`, which cuts each text field to
its cap. Caps keep one hostile card from costing minutes downstream (normalising, hashing,
diffing and indexing every version) and from bloating the archive; they sit far above
what listings show, so a real field is never cut:

- headline 500 characters: Japanese news headlines run 20–60, English ones under 150;
- summary 5,000: listing excerpts run 100–300 (the seed's 121–139); 5,000 still holds a
  theme that prints a whole short article as its "excerpt";
- date text 200 (read by :mod:`crawler.dates`): the longest form, 「公開日：2026年2月13日
  10時20分」 or an ISO timestamp with fractions and zone, is under 40.

A field given as markup (JSON-LD may hold HTML) is cut to :data:`MARKUP_FACTOR` times its
cap before it is parsed: parsing is the expensive part, and markup that long would leave
more text than the cap anyway in any sane page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HEADLINE_CAP = 500
SUMMARY_CAP = 5_000
DATE_TEXT_CAP = 200
MARKUP_FACTOR = 4


@dataclass(frozen=True)
class Entry:
    """One article as a listing page shows it (fields empty when the page does not).

    ``truncated`` names the fields cut to their cap; ``cleaned`` the fields repaired
    (characters that are no text removed) or dropped (a date written unreadably).
    """

    url: str
    headline: str = ""
    summary: str = ""
    published_at: str = ""
    truncated: tuple[str, ...] = ()
    cleaned: tuple[str, ...] = ()

    @property
    def irregular(self) -> int:
        """How many of this entry's fields were cut, repaired or dropped."""
        return len(set(self.truncated) | set(self.cleaned))


def make_entry(
    url: str,
    headline: str,
    summary: str,
    published_at: str,
    *,
    cleaned: Iterable[str] = (),
    truncated: Iterable[str] = (),
) -> Entry:
    """An entry with its text fields cut to their caps (and named when cut).

    ``truncated`` names fields the caller already cut (markup cut before parsing).
    """
    caps = (("headline", headline, HEADLINE_CAP), ("summary", summary, SUMMARY_CAP))
    cut = [*truncated, *(name for name, text, cap in caps if len(text) > cap)]
    return Entry(
        url,
        headline[:HEADLINE_CAP].rstrip(),
        summary[:SUMMARY_CAP].rstrip(),
        published_at,
        tuple(dict.fromkeys(cut)),
        tuple(dict.fromkeys(cleaned)),
    )


def cut_markup(value: str, cap: int) -> tuple[str, bool]:
    """``value`` cut to :data:`MARKUP_FACTOR` times ``cap`` before parsing, and whether it was."""
    limit = MARKUP_FACTOR * cap
    return (value[:limit], True) if len(value) > limit else (value, False)
