"""Enrichment's budget: article pages are read best-effort, within a time and a count per run.

Reading an item's article page (for a headline the card lacks, the publication time, tags,
``rel=canonical``) must never keep a run from archiving its listing: a site whose article
pages hang, or twenty new items times a 30 s timeout times retries, would otherwise make
every run time out. So article requests are capped per run (``TOPICWATCH_ENRICH_MAX``,
applied by the spider), each gets its own short timeout and no retry, and once the run's
enrichment time (``TOPICWATCH_ENRICH_BUDGET`` seconds from its first article request)
is spent the rest are dropped here. Items left unread stay pending in the archive and are
read on a later run.
"""

from __future__ import annotations

import time

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

ARTICLE = "topicwatch_article"  # request meta key: an article page (enrichment) request
BUDGET_SPENT = "enrichment budget spent"


class EnrichmentBudgetMiddleware:
    """Drop article requests once the run's enrichment time is spent; bound the others."""

    def __init__(self, budget: float, timeout: float) -> None:
        self.budget = budget
        self.timeout = timeout
        self.started: float | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EnrichmentBudgetMiddleware:
        settings = crawler.settings
        return cls(
            settings.getfloat("TOPICWATCH_ENRICH_BUDGET", 60.0),
            settings.getfloat("TOPICWATCH_ARTICLE_TIMEOUT", 15.0),
        )

    def process_request(self, request: Request) -> None:
        if not request.meta.get(ARTICLE):
            return
        now = time.monotonic()
        if self.started is None:
            self.started = now
        left = self.budget - (now - self.started)
        if left <= 0:
            raise IgnoreRequest(BUDGET_SPENT)
        request.meta["download_timeout"] = max(0.1, min(self.timeout, left))
