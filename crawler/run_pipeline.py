"""What the archive pipeline and the feed pipeline share: how a topic run's items reach it.

A crawl holds several topic runs at once (a batch, a warm worker's orders); each item is
tagged with its run (``run_id``). Both pipelines gather a run's items with it until its
last one (:class:`RunComplete`) arrives, then hand the run to their own ``finish`` (into
the archive, or into a Scrapyd job's feed), and charge a callback's exception to the run
whose response raised it. Only ``finish`` and where the open runs are kept differ.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from scrapy import Spider
from scrapy.crawler import Crawler
from twisted.python.failure import Failure

from topicwatch.crawler.items import ArticleFailure, RunComplete
from topicwatch.crawler.runs import TopicRun

logger = logging.getLogger(__name__)


class OpenRuns(Protocol):
    """The extension that opens the crawl's runs and lets go of them."""

    runs: dict[int, TopicRun]

    def release(self, run: TopicRun) -> None: ...


class RunPipeline:
    """A pipeline that finishes each topic run when its last item arrives."""

    crawler: Crawler

    @property
    def open_runs(self) -> OpenRuns:
        raise NotImplementedError

    def finish(self, run: TopicRun, reason: str) -> None:
        """Put the run on record (``reason``: why it ended, as Scrapy says it)."""
        raise NotImplementedError

    def process_item(self, item: Any) -> Any:
        opened = self.open_runs
        run = opened.runs.get(getattr(item, "run_id", 0))
        if run is None or run.finished:  # a run timed out: its late items are not its own
            return item
        if isinstance(item, RunComplete):
            try:
                self.finish(run, "finished")
            finally:
                opened.release(run)
            return item
        if isinstance(item, ArticleFailure) and not item.skipped:
            logger.warning("article enrichment failed for %s: %s", item.listing_url, item.error)
        run.collect(item)
        return item

    def spider_error(self, failure: Failure, response: Any, spider: Spider) -> None:
        """A callback raised: its run failed (``crash``); every open run when the
        response names none (the error could be any run's)."""
        runs = self.open_runs.runs
        run = runs.get(response.meta.get("run_id", 0)) if response else None
        error = (
            f"{failure.type.__name__ if failure.type else 'error'}: "
            f"{failure.getErrorMessage()} ({getattr(response, 'url', '?')})"
        )
        for target in [run] if run is not None else list(runs.values()):
            target.errors.append(error)
