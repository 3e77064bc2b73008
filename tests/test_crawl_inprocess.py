"""The spider's and the pipeline's logic in this process: Scrapy's ``get_crawler`` and
``HtmlResponse``, no reactor, no server, no child process.

What only a process shows (signals, exit codes, a real server's redirects and timeouts)
stays in the end-to-end tests (test_crawl.py, the fault matrix); these pin the paging and
run bookkeeping rules fast and exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import scrapy
from fixture_site import _ListingView, make_articles, render_listing
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from topicwatch.archive import open_archive
from topicwatch.crawler import settings as project_settings
from topicwatch.crawler.extensions import ArchiveRuns
from topicwatch.crawler.items import ListingPage, PageFailure, PagingEnd, RunComplete
from topicwatch.crawler.pipelines import ArchivePipeline
from topicwatch.crawler.runs import RunOrder, TopicRun
from topicwatch.crawler.spiders.topic import TopicSpider

# Never fetched: every response below is built in this process.
BASE = "http://127.0.0.1:9"
TOPIC = f"{BASE}/articles/tag/nato/"
ARTICLES = make_articles(30)
PER_PAGE = 20


def listing(page: int, articles: list[Any] = ARTICLES, tag: str = "nato") -> bytes:
    pages = -(-len(articles) // PER_PAGE)
    chunk = articles[(page - 1) * PER_PAGE : page * PER_PAGE]
    view = _ListingView(BASE, tag, chunk, page, pages, True)
    return render_listing(view).encode("utf-8")


def answer(request: scrapy.Request, body: bytes, status: int = 200) -> Response:
    return HtmlResponse(request.url, status=status, body=body, request=request)


# The project's settings, as `scrapy crawl` and `topicwatch crawl` read them.
PROJECT = {name: value for name, value in vars(project_settings).items() if name.isupper()}


def make_spider(settings: dict[str, Any] | None = None, **arguments: Any) -> TopicSpider:
    # No TOPICWATCH_DB unless a test gives one: the spider then runs without an archive.
    overrides = {"TOPICWATCH_DB": "", "TOPICWATCH_ENRICH": False, **(settings or {})}
    crawler = get_crawler(TopicSpider, {**PROJECT, **overrides})
    spider = TopicSpider.from_crawler(crawler, url=TOPIC, **arguments)
    crawler.spider = spider
    return spider


def first_request(spider: TopicSpider, order: RunOrder | None = None) -> scrapy.Request:
    run = spider.open_run(order or spider.order)
    assert run is not None
    return spider.page_request(run, run.order.url, page=1, offset=0)


def split(outputs: list[Any]) -> tuple[list[Any], list[scrapy.Request]]:
    requests = [o for o in outputs if isinstance(o, scrapy.Request)]
    return [o for o in outputs if not isinstance(o, scrapy.Request)], requests


# --------------------------------------------------------------------------- the spider


def test_a_page_with_a_next_link_yields_its_cards_and_the_next_page_and_the_run_stays_open():
    spider = make_spider()
    items, requests = split(list(spider.parse(answer(first_request(spider), listing(1)))))
    (page,) = [i for i in items if isinstance(i, ListingPage)]
    assert (page.page, page.status, page.item_count) == (1, 200, PER_PAGE)
    assert [i.headline for i in page.items] == [a.headline for a in ARTICLES[:PER_PAGE]]
    assert [i.position for i in page.items] == list(range(1, PER_PAGE + 1))
    (next_page,) = requests
    assert next_page.meta["page"] == 2 and next_page.meta["offset"] == PER_PAGE
    assert next_page.dont_filter  # a filtered request would never settle its run
    assert not any(isinstance(i, RunComplete) for i in items)


def test_the_last_page_ends_paging_and_completes_the_run_once():
    spider = make_spider()
    _, (page_two,) = split(list(spider.parse(answer(first_request(spider), listing(1)))))
    items, requests = split(list(spider.parse(answer(page_two, listing(2)))))
    assert requests == []
    (end,) = [i for i in items if isinstance(i, PagingEnd)]
    assert end.reason == "no next page"
    assert [i for i in items if isinstance(i, RunComplete)] == [RunComplete(0)]
    assert spider.active == {}


def test_a_page_limit_stops_paging_with_its_reason():
    spider = make_spider(max_pages=1)
    items, requests = split(list(spider.parse(answer(first_request(spider), listing(1)))))
    assert requests == []
    (end,) = [i for i in items if isinstance(i, PagingEnd)]
    assert end.reason == "page limit 1 reached"


def test_not_modified_reuses_the_page_and_ends_the_run():
    spider = make_spider()
    items, requests = split(list(spider.parse(answer(first_request(spider), b"", 304))))
    (page,) = [i for i in items if isinstance(i, ListingPage)]
    assert page.status == 304 and requests == []
    assert any(isinstance(i, RunComplete) for i in items)


def test_a_callback_error_fails_its_own_run_only(monkeypatch):
    spider = make_spider()
    request_a = first_request(spider)
    other = RunOrder(url=f"{BASE}/articles/tag/uk/", topic="uk")
    run_b = TopicRun(7, other, spider.active[0].memory)
    spider.active[7] = run_b
    request_b = spider.page_request(run_b, other.url, page=1, offset=0)

    def explode(run: TopicRun, response: Response) -> Any:
        raise ValueError("a page no extractor expected")
        yield  # pragma: no cover

    monkeypatch.setattr(spider, "_listing_page", explode)
    items, _ = split(list(spider.parse(answer(request_a, listing(1)))))
    assert items == [RunComplete(0)]  # run A ends, its error on record for the pipeline
    assert spider.active == {7: run_b} and run_b.errors == []
    monkeypatch.undo()
    items_b, _ = split(list(spider.parse(answer(request_b, listing(1, tag="uk")))))
    assert any(isinstance(i, ListingPage) for i in items_b)


def test_a_failed_page_request_becomes_a_page_failure_of_its_run():
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.python.failure import Failure

    spider = make_spider()
    request = first_request(spider)
    failure = Failure(HttpError(answer(request, b"gone", 410), "Ignoring non-200 response"))
    failure.request = request  # type: ignore[attr-defined]
    items, _ = split(list(spider.page_failed(failure)))
    (problem,) = [i for i in items if isinstance(i, PageFailure)]
    assert (problem.page, problem.reason) == (1, "http") and "HTTP 410" in problem.error
    assert any(isinstance(i, RunComplete) for i in items)


# --------------------------------------------------------------------------- the pipeline


@pytest.fixture
def archived(tmp_path: Path) -> Any:
    """A spider wired to the archive extension and the pipeline, on a real SQLite file."""
    db = tmp_path / "archive.db"
    spider = make_spider({"TOPICWATCH_DB": str(db)})
    pipeline = ArchivePipeline.from_crawler(spider.crawler)
    runs = spider.crawler.get_extension(ArchiveRuns)
    assert runs is not None
    return spider, pipeline, runs, db


def crawl_through(spider: TopicSpider, pipeline: ArchivePipeline, pages: dict[int, bytes]) -> None:
    """Answer each page request from ``pages`` and hand every item to the pipeline."""
    pending = [first_request(spider)]
    while pending:
        request = pending.pop(0)
        items, requests = split(list(spider.parse(answer(request, pages[request.meta["page"]]))))
        for item in items:
            pipeline.process_item(item)
        pending += requests


def test_the_pipeline_commits_a_run_when_it_completes_and_lets_its_lock_go(archived):
    spider, pipeline, runs, db = archived
    crawl_through(spider, pipeline, {1: listing(1), 2: listing(2)})
    archive = open_archive(db)
    (run,) = archive.query("SELECT status, pages, items_seen, items_new FROM crawl_runs")
    assert run == {"status": "ok", "pages": 2, "items_seen": 30, "items_new": 30}
    assert runs.runs == {}  # released: lock and connection let go


def test_a_second_run_sees_what_the_first_archived(archived):
    spider, pipeline, _, db = archived
    crawl_through(spider, pipeline, {1: listing(1), 2: listing(2)})
    newer = make_articles(2, start=100) + ARTICLES
    crawl_through(spider, pipeline, {1: listing(1, newer), 2: listing(2, newer)})
    archive = open_archive(db)
    second = archive.execute(
        "SELECT status, pages, items_new FROM crawl_runs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert second == ("ok", 1, 2)  # met known items on page 1: no need for page 2
