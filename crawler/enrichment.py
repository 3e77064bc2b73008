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
_REMEMBERED_RUNS = 1000  # far more runs than run side by side in one crawl process


class EnrichmentBudgetMiddleware:
    """Drop article requests once the run's enrichment time is spent; bound the others."""

    def __init__(self, budget: float, timeout: float) -> None:
        self.budget = budget
        self.timeout = timeout
        # run id -> when its first article request went out: a crawl of many topics (a
        # warm worker) gives each run its own budget. Oldest entries are forgotten first.
        self.started: dict[int, float] = {}

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
        run_id = request.meta.get("run_id", 0)
        if run_id not in self.started:
            if len(self.started) >= _REMEMBERED_RUNS:
                del self.started[next(iter(self.started))]
            self.started[run_id] = now
        left = self.budget - (now - self.started[run_id])
        if left <= 0:
            raise IgnoreRequest(BUDGET_SPENT)
        request.meta["download_timeout"] = max(0.1, min(self.timeout, left))
