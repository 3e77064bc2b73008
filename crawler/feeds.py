"""Feed exports give one record per listed item, in every format Scrapy writes.

The spider yields one :class:`~crawler.items.ListingPage` per page for the pipeline (the
archive wants the page, its bytes and validators) and, when the crawl has feeds, one
:class:`~crawler.items.ListedCard` per item for them. Each feed that names no items of
its own (``item_classes`` or ``item_filter``) is given Scrapy's documented filter,
``item_classes``, set to the cards, so ``-o items.jsonl`` / ``.json`` / ``.csv`` / ``.xml``
write items, never pages.
"""

from __future__ import annotations

from typing import Any

from scrapy.settings import BaseSettings

CARD = "topicwatch.crawler.items.ListedCard"
RECORD = "topicwatch.crawler.items.FeedRecord"  # a Scrapyd job's feed (crawler.node_feed)


def export_cards_only(settings: BaseSettings) -> None:
    """Give every feed without a filter of its own ``item_classes = [ListedCard]``."""
    feeds = settings.getdict("FEEDS")
    if not feeds:
        return
    wanted = RECORD if settings.get("TOPICWATCH_OUTPUT") == "feed" else CARD
    settings.set("FEEDS", {uri: _cards(options, wanted) for uri, options in feeds.items()},
                 priority=settings.getpriority("FEEDS") or "project")  # fmt: skip


def _cards(given: Any, wanted: str) -> dict[str, Any]:
    options: dict[str, Any] = dict(given or {})
    if not options.get("item_classes") and not options.get("item_filter"):
        options["item_classes"] = [wanted]
    return options


def has_feeds(settings: BaseSettings) -> bool:
    """Whether the crawl exports feeds (the only reason to yield cards: each costs
    Scrapy's per-item machinery, see docs/benchmarks.md); a Scrapyd job's feed takes
    its runs' records instead (crawler.node_feed)."""
    return bool(settings.getdict("FEEDS")) and settings.get("TOPICWATCH_OUTPUT") != "feed"
