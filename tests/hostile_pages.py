"""Listing pages built to make extraction slow or fail, one attack each.

Each :class:`Attack` is a listing whose cards are ordinary except one (or one part of the
page) shaped to hit a cost or a crash the extractor once had: a regex tried from every
position of a long run, a walk repeated for every nested candidate, a sort that counted
siblings, a date too large to represent, JSON nested past Python's stack. Sizes are
chosen so that the old code needed minutes to hours (or raised, or read the card wrong),
and linear code needs seconds at most. :func:`hostile_cards` gives the card-level
attacks as cards to splice into another page (the end-to-end test serves them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BASE = "https://example.jp/articles/tag/nato/"
TARGET = "https://example.jp/articles/hostile/"
SUMMARY = "北大西洋条約機構の加盟国は、北極圏の監視体制を強化する方針を確認した。" * 2


@dataclass(frozen=True)
class Attack:
    """A hostile page, and what the extractor must read from its target card."""

    page: str
    expect: dict[str, Any] = field(default_factory=dict)  # Entry field -> value


def card(slug: str, title: str = "見出し", summary: str = SUMMARY, date: str = "") -> str:
    """An ordinary card; any part of it may be replaced by a hostile one."""
    date = date or '<time datetime="2026-02-13T10:20:00+09:00">2026.02.13</time>'
    return (
        f'<article class="post"><h2 class="entry-title"><a href="/articles/{slug}/">{title}'
        f'</a></h2><p class="excerpt">{summary}</p>{date}</article>'
    )


def listing(cards: list[str], head: str = "", ordinary: int = 5) -> str:
    """A page of ``cards`` followed by ``ordinary`` ordinary ones."""
    cards = cards + [card(f"ordinary-{n}") for n in range(ordinary)]
    return (
        f"<html><head>{head}</head><body><main><div class='posts'>{''.join(cards)}</div>"
        "</main></body></html>"
    )


def jsonld(items: Any) -> str:
    """A JSON-LD block (``ensure_ascii``: a lone surrogate becomes a ``\\udXXX`` escape)."""
    return f'<script type="application/ld+json">{json.dumps(items)}</script>'


def item_list(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"@context": "https://schema.org", "@type": "ItemList", "itemListElement": elements}


ELLIPSES = "…" * 1_000_000  # a 3 MB summary
DIGITS = "9" * 20_000
LABEL = '<span class="new">NEW</span>        '  # the old code re-joined every tail
LABELS = LABEL * 100_000


def hostile_cards() -> list[str]:
    """The card-level attacks, as cards of their own (slugs ``hostile-*``)."""
    return [
        card("hostile-ellipsis", summary=ELLIPSES + "続く"),
        card("hostile-digits", date=f'<span class="date">{DIGITS}日前</span>'),
        card("hostile-labels", title=f"見出し{LABELS}"),
        card("hostile-overflow", date='<span class="date">1000000日前</span>'),
    ]


ATTACKS: dict[str, Callable[[], Attack]] = {}


def attack(function: Callable[[], Attack]) -> Callable[[], Attack]:
    """Register a hostile page builder (pages are built when a test asks, not at import)."""
    ATTACKS[function.__name__.removeprefix("_").replace("_", "-")] = function
    return function


@attack
def _ellipsis_run() -> Attack:
    """``…+$`` tried from every position of a run not at the end: quadratic."""
    page = listing([card("hostile", summary=ELLIPSES + "続く")])
    return Attack(page, {"summary": "…" * 5000, "truncated": ("summary",)})


@attack
def _digit_date() -> Attack:
    """``\\d+…前`` backtracking through 20,000 digits, then int() refusing them."""
    page = listing([card("hostile", date=f'<span class="date">{DIGITS}日前</span>')])
    return Attack(page, {"published_at": "", "cleaned": ("published_at",)})


@attack
def _overflow_date() -> Attack:
    """A relative date before year 1: OverflowError."""
    page = listing([card("hostile", date='<span class="date">1000000日前</span>')])
    return Attack(page, {"published_at": "", "cleaned": ("published_at",)})


@attack
def _adjacent_labels() -> Attack:
    """100,000 badges in a headline, each dropped by re-joining the text after it."""
    page = listing([card("hostile", title=f"見出し{LABELS}")])
    return Attack(page, {"headline": "見出し"})


@attack
def _nested_title_labels() -> Attack:
    """200 nested title elements holding only labels, each read anew."""
    titles = '<div class="title">' * 200 + LABEL * 20_000 + "</div>" * 200
    page = listing([f'<article class="post">{titles}<h2><a href="/articles/hostile/">見出し</a>'
                    f"</h2><p>{SUMMARY}</p></article>"])  # fmt: skip
    return Attack(page, {"headline": "見出し", "summary": SUMMARY})


@attack
def _nested_cells() -> Attack:
    """80 nested table cells around 20,000 text blocks, each cell read whole."""
    cells = "<table><tr><td>" * 80 + "<span>本文</span>" * 20_000 + "</td></tr></table>" * 80
    page = listing([f'<article class="post"><a href="/articles/hostile/">見出し</a>{cells}'
                    "</article>"])  # fmt: skip
    return Attack(page, {"headline": "見出し", "summary": "本文" * 2500, "truncated": ("summary",)})


@attack
def _many_cards() -> Attack:
    """80,000 cards in one list, each sorted by counting the siblings before it."""
    cards = "".join(f'<li><a href="/articles/a{n}/">見出し{n}</a></li>' for n in range(80_000))
    page = f'<html><body><main><ul>{cards}<li><a href="/articles/hostile/">見出し</a></li></ul>'
    return Attack(page + "</main></body></html>", {"headline": "見出し"})


@attack
def _lists_under_long_class() -> Attack:
    """4,000 small lists in a widget with a 1.4 MB class, its words split for each list."""
    lists = "".join(
        f'<div><p><a href="/articles/s{n}/">s</a></p><p><a href="/articles/t{n}/">t</a></p></div>'
        for n in range(4000)
    )
    side = f"<aside class='{'widget ' * 200_000}'>{lists}</aside>"
    page = f"<html><body><main><div class='posts'>{card('hostile')}</div></main>{side}</body>"
    return Attack(page + "</html>", {"headline": "見出し"})


@attack
def _jsonld_deep() -> Attack:
    """JSON nested past Python's stack: RecursionError."""
    head = '<script type="application/ld+json">' + "[" * 100_000 + "</script>"
    return Attack(listing([card("hostile")], head=head), {"headline": "見出し"})


@attack
def _jsonld_markup() -> Attack:
    """A 3 MB description of markup, parsed whole by BeautifulSoup."""
    element = {"url": "/articles/hostile/", "name": "見出し", "description": "<b>" * 1_000_000}
    page = listing([], head=jsonld(item_list(element)), ordinary=0)
    return Attack(page, {"headline": "見出し", "summary": "", "truncated": ("summary",)})


@attack
def _jsonld_surrogate() -> Attack:
    """A headline ending in a lone surrogate: unencodable, so the archive's commit failed."""
    element = {"url": "/articles/hostile/", "name": "見出し\ud800", "description": SUMMARY}
    page = listing([], head=jsonld(item_list(element)), ordinary=0)
    return Attack(page, {"headline": "見出し", "summary": SUMMARY, "cleaned": ("headline",)})
