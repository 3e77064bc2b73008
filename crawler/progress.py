"""A crawl's progress on a terminal: pages read, items listed, article pages fetched of N.

A first crawl fetches each new item's article page with the politeness delay between
requests (20 items: ~25 s), and was silent all that time. ``topicwatch crawl`` turns this
extension on (``TOPICWATCH_PROGRESS``) only when its stderr is a terminal and it is not
asked for ``--json``: a pipe, a log file or the daemon get the summary line alone. The
line is rewritten in place (``\\r``) and erased when the crawl ends, so the summary line
that follows stands alone.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from topicwatch.crawler.enrichment import ARTICLE
from topicwatch.crawler.items import ArticleDetails, ArticleFailure, ListingPage

_ERASE = "\r\x1b[K"


class CrawlProgress:
    """Counts what the crawl did, from Scrapy's signals, and shows it on one line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.pages = self.items = self.articles = self.articles_wanted = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlProgress:
        if not crawler.settings.getbool("TOPICWATCH_PROGRESS"):
            raise NotConfigured
        progress = cls(sys.stderr)
        crawler.signals.connect(progress.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(progress.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(progress.spider_closed, signal=signals.spider_closed)
        return progress

    def request_scheduled(self, request: Request, **kwargs: Any) -> None:
        if request.meta.get(ARTICLE):
            self.articles_wanted += 1
            self.show()

    def item_scraped(self, item: Any, **kwargs: Any) -> None:
        if isinstance(item, ListingPage):
            self.pages += 1
            self.items += item.item_count
        elif isinstance(item, ArticleDetails | ArticleFailure):
            self.articles += 1
        else:
            return
        self.show()

    def line(self) -> str:
        """``2 pages read, 40 items, 7 of 20 article pages fetched``."""
        pages = f"{self.pages} page{'s' if self.pages != 1 else ''} read"
        line = f"crawling: {pages}, {self.items} items"
        if self.articles_wanted:
            line += f", {self.articles} of {self.articles_wanted} article pages fetched"
        return line

    def show(self) -> None:
        self.stream.write(_ERASE + self.line())
        self.stream.flush()

    def spider_closed(self, **kwargs: Any) -> None:
        self.stream.write(_ERASE)
        self.stream.flush()
