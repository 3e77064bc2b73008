"""The ``topic`` spider: read a topic listing page by page and yield what it lists.

It only parses. Each crawl of a topic is a topic run (:mod:`crawler.runs`): the spider asks
for one through a signal (the archive extension answers it with what the archive knows
for continuity paging, conditional GET and enrichment), tags every request and item with
the run, and yields the run's :class:`RunComplete` once every request it sent is
answered, so the pipeline commits each run on its own. ``scrapy crawl topic -a url=URL``
and ``topicwatch crawl`` therefore behave the same; without an archive the run simply
knows nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, UsageError
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from topicwatch import DEFAULT_TOPIC_URL
from topicwatch.archive.urls import canonical_url, topic_name_for
from topicwatch.crawler.article import extract_article
from topicwatch.crawler.charset import decode_page
from topicwatch.crawler.enrichment import ARTICLE, BUDGET_SPENT
from topicwatch.crawler.extract import Selectors, same_listing
from topicwatch.crawler.feeds import export_cards_only, has_feeds
from topicwatch.crawler.items import (
    ArticleDetails,
    ArticleFailure,
    ListedCard,
    ListingItem,
    ListingPage,
    PageFailure,
    PagingEnd,
    RunComplete,
)
from topicwatch.crawler.observe import body_sha256, extraction_of, observe_listing
from topicwatch.crawler.runs import NoMemory, RunOrder, TopicRun, run_wanted

Output = (
    ListedCard
    | ListingPage
    | PageFailure
    | PagingEnd
    | ArticleDetails
    | RunComplete
    | scrapy.Request
)


class TopicSpider(scrapy.Spider):
    """Crawl one topic listing.

    Arguments (``-a name=value``): ``url`` (default: novaist.jp's NATO tag), ``max_pages``
    (continuity paging limit, default 5), ``pages`` (read exactly N pages), ``topic``
    (name; default from the URL), ``selectors`` (JSON object of CSS selector overrides).
    From Python, ``orders`` (RunOrder objects) starts one run per order instead, each with
    its own limits, selectors and hosts (``topicwatch crawl --all``), or none: a warm
    worker (:mod:`crawler.worker`) opens runs as orders arrive, with :meth:`start_run`.
    On a Scrapyd node, ``batch`` (the daemon's encoded orders with their shipped memory,
    :func:`crawler.orders.parse_batch`) gives the orders.

    Paging goes on while a page holds no item the archive knows (continuity), and also
    while an item the topic listed last time is missing from the stretch read so far (it
    may have moved down, which is a move, not a retraction) or the stretch does not yet
    show the topic's previous listing in its order (a burst of new items), up to the
    page limit.
    """

    name = "topic"

    def __init__(
        self,
        url: str | None = None,
        max_pages: int | str = 5,
        pages: int | str | None = None,
        topic: str | None = None,
        selectors: str | dict[str, str] | None = None,
        orders: Sequence[RunOrder] | None = None,
        *args: Any,
        batch: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if batch:
            from topicwatch.crawler.orders import parse_batch  # it imports this module

            orders = parse_batch(batch)
        self.order = RunOrder(
            url=topic_url(url or DEFAULT_TOPIC_URL),
            topic=topic or "",
            max_pages=_positive(max_pages, "max_pages"),
            exact_pages=_positive(pages, "pages") if pages not in (None, "") else None,
            selectors=parse_selectors(selectors),
        )
        self.url = self.order.url
        self.orders = [self.order] if orders is None else list(orders)
        self.active: dict[int, TopicRun] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> TopicSpider:
        """Feeds (``-o items.jsonl``) take the listed items, not the pages (crawler.feeds).

        Here, not in ``update_settings``: ``scrapy crawl`` merges its own settings (``-o``)
        over the crawler's after that, and before this (settings are not frozen yet; Scrapy's
        docs show per-spider changes made here)."""
        spider = super().from_crawler(crawler, *args, **kwargs)
        export_cards_only(crawler.settings)
        return spider

    @cached_property
    def exporting(self) -> bool:
        """Whether to yield a ListedCard per item: only for feed exports."""
        return has_feeds(self.settings)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for order in self.orders:
            request = self.start_run(order)
            if request is not None:
                yield request

    def start_run(self, order: RunOrder) -> scrapy.Request | None:
        """Open a run for ``order`` and return its first page's request (None: refused)."""
        run = self.open_run(order)
        return None if run is None else self.page_request(run, run.order.url, page=1, offset=0)

    def open_run(self, order: RunOrder) -> TopicRun | None:
        """A topic run from the archive extension (None: the topic is busy or the archive
        unusable; the crawl's stats say which), or one that knows nothing without it."""
        answers = self.crawler.signals.send_catch_log(run_wanted, order=order)
        runs = [answer for _, answer in answers if isinstance(answer, TopicRun)]
        if answers and not runs:
            return None
        run = runs[0] if runs else TopicRun(0, order, NoMemory())
        self.active[run.id] = run
        return run

    # ------------------------------------------------------------------ requests

    def _request(self, run: TopicRun, url: str, **kwargs: Any) -> scrapy.Request:
        """A request of ``run``: counted until answered, kept on the topic's origins."""
        meta = {"run_id": run.id, "topic_url": run.order.url, **kwargs.pop("meta", {})}
        if run.order.allow_hosts:
            meta["allow_hosts"] = run.order.allow_hosts
        run.outstanding += 1
        # dont_filter: the run decides what to read, and a filtered request would never be
        # answered, leaving its run open for good.
        return scrapy.Request(url, meta=meta, dont_filter=True, **kwargs)

    def page_request(self, run: TopicRun, url: str, *, page: int, offset: int) -> scrapy.Request:
        """A listing page request, conditional when the archive has the page's validators.

        ``--pages N`` (gap filling) reads unconditionally: a 304 page has no "next" link.
        """
        headers = {}
        remembered = run.memory.pages.get(url) if run.order.exact_pages is None else None
        if remembered is not None:
            if remembered.etag:
                headers["If-None-Match"] = remembered.etag
            if remembered.last_modified:
                headers["If-Modified-Since"] = remembered.last_modified
        return self._request(
            run, url, callback=self.parse, errback=self.page_failed, headers=headers,
            meta={"page": page, "offset": offset, "listing_url": url,
                  "handle_httpstatus_list": [304]},
        )  # fmt: skip

    def _settle(self, run: TopicRun) -> Iterator[Output]:
        """One of the run's requests is answered; after its last, the run is complete."""
        run.outstanding -= 1
        if run.outstanding == 0:
            self.active.pop(run.id, None)
            yield RunComplete(run.id)

    def _answered(self, run: TopicRun, outputs: Iterator[Output]) -> Iterator[Output]:
        """A callback's outputs, then the request settled, whatever the page did: an
        exception on a hostile page fails its run, never another run or the crawl."""
        try:
            yield from outputs
        except Exception as error:
            run.errors.append(f"{type(error).__name__}: {error}")
        yield from self._settle(run)

    def _run(self, request: scrapy.Request) -> TopicRun | None:
        """The request's run, or None once the run is on record (its timeout struck): its
        late answers change nothing, and the run is forgotten here."""
        run = self.active.get(request.meta["run_id"])
        if run is not None and run.finished:
            del self.active[run.id]
            return None
        return run

    # ------------------------------------------------------------------ listing pages

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Output]:
        run = self._run(response.request)  # type: ignore[arg-type]
        if run is not None:
            yield from self._answered(run, self._listing_page(run, response))

    def _listing_page(self, run: TopicRun, response: Response) -> Iterator[Output]:
        page, offset, url = (response.meta[k] for k in ("page", "offset", "listing_url"))
        if response.status == 304:
            yield from self._not_modified(run, response, url, page)
            return
        if not isinstance(response, TextResponse) or not _is_html(response):
            content_type = _header(response, "Content-Type")
            yield PageFailure(url, page, "content", f"not an HTML page ({content_type or '?'})",
                              run_id=run.id)  # fmt: skip
            return
        if page > 1 and not same_listing(response.url, run.order.url):
            error = f"page {page} of the listing redirected to {response.url}"
            yield PageFailure(url, page, "redirect", error, run_id=run.id)
            return
        content_type = _header(response, "Content-Type")
        digest = body_sha256(response.body)
        extraction = extraction_of(response.url, content_type, run.order.selectors)
        if self._parsed_before(run, url, digest, extraction):
            yield from self._not_modified(run, response, url, page)
            return
        fetched_at = datetime.now(UTC)
        seen = observe_listing(
            response.body,
            content_type,
            response.url,
            selectors=run.order.selectors,
            fetched_at=fetched_at,
        )
        if seen.failure:
            yield PageFailure(url, page, "content", seen.failure, run_id=run.id)
            return
        entries = seen.entries
        items = tuple(
            ListingItem(entry.url, entry.headline, entry.summary, entry.published_at,
                        offset + index, page, entry.truncated)
            for index, entry in enumerate(entries, start=1)
        )  # fmt: skip
        yield ListingPage(
            url,
            page,
            response.status,
            _header(response, "ETag"),
            _header(response, "Last-Modified"),
            len(entries),
            seen.method,
            seen.diagnostics,
            body=response.body,
            content_type=content_type,
            fetched_at=fetched_at,
            items=items,
            cleaned=seen.cleaned,
            run_id=run.id,
            body_sha256=digest,
            extraction=extraction,
        )
        if self.exporting:
            topic = run.order.topic or topic_name_for(run.order.url)
            for item in items:
                yield ListedCard(item.url, item.headline, item.summary, item.published_at,
                                 item.position, item.page, topic)  # fmt: skip
        cards = [(entry.url, entry.headline, entry.summary) for entry in entries]
        yield from self._article_requests(run, run.memory.needing_articles(cards))
        run.read += [(entry.url, page) for entry in entries]
        known_here = any(entry.url in run.memory.known_urls for entry in entries)
        yield from self._next(run, seen.next_url, page, offset + len(entries), known_here, entries)

    def _parsed_before(self, run: TopicRun, url: str, digest: str, extraction: str) -> bool:
        """Whether the page is the very body the archive last parsed for ``url``, to be read
        the same way: it lists what it listed then, as a 304 says. ``--pages N`` reads
        unconditionally, as it sends no validators."""
        remembered = run.memory.pages.get(url) if run.order.exact_pages is None else None
        return (
            remembered is not None
            and remembered.body_sha256 == digest
            and remembered.extraction == extraction
        )

    def _not_modified(
        self, run: TopicRun, response: Response, url: str, page: int
    ) -> Iterator[Output]:
        """The page is unchanged (a 304, or the body last parsed): the archive stands in the
        items it held last time, and paging ends here. A 200's body is kept as its fetch's
        evidence (the snapshot it already has); a 304 has none."""
        remembered = run.memory.pages.get(url)
        count = remembered.item_count if remembered is not None else 0
        answered = response.status != 304
        yield ListingPage(
            url, page, response.status, _header(response, "ETag"),
            _header(response, "Last-Modified") if answered else None, count,
            body=response.body if answered else None,
            content_type=_header(response, "Content-Type") if answered else None,
            fetched_at=datetime.now(UTC), run_id=run.id, unchanged=True,
        )  # fmt: skip
        yield from self._end(run, "page not modified: its items are all known", gap=False)

    def _next(
        self,
        run: TopicRun,
        next_url: str | None,
        page: int,
        offset: int,
        known_here: bool,
        entries: list[Any],
    ) -> Iterator[Output]:
        order = run.order
        hard_limit = self.settings.getint("TOPICWATCH_MAX_PAGES_HARD")
        limit = min(order.exact_pages or order.max_pages, hard_limit)
        continuing = order.exact_pages is None and known_here
        if not entries:
            yield from self._end(run, "no items on this page", gap=False)
        elif continuing and not run.memory.wants_more(run.read):
            yield from self._end(run, "reached items already archived", gap=False)
        elif next_url is None:
            yield from self._end(run, "no next page", gap=False)
        elif page >= limit:
            gap = order.exact_pages is None and not known_here and bool(run.memory.known_urls)
            looking = order.exact_pages is None and run.memory.wants_more(run.read)
            yield from self._end(run, f"page limit {limit} reached", gap=gap, looking=looking)
        else:
            yield self.page_request(run, next_url, page=page + 1, offset=offset)

    def _end(
        self, run: TopicRun, reason: str, *, gap: bool, looking: bool = False
    ) -> Iterator[Output]:
        """Paging is over: say why (``looking``: it stopped while it still wanted more),
        then read the pending items' article pages too."""
        yield PagingEnd(reason, gap_suspected=gap, still_looking=looking, run_id=run.id)
        yield from self._article_requests(run, run.memory.pending_urls)

    def page_failed(self, failure: Failure) -> Iterator[Output]:
        """Errback: a page that could not be fetched after Scrapy's retries."""
        request = failure.request  # type: ignore[attr-defined]
        run = self._run(request)
        if run is not None:
            yield from self._answered(run, self._page_failure(run, failure, request))

    def _page_failure(
        self, run: TopicRun, failure: Failure, request: scrapy.Request
    ) -> Iterator[Output]:
        url, page = request.meta["listing_url"], request.meta["page"]
        for problem in self._page_problem(failure, request, url, page):
            problem.run_id = run.id
            yield problem
        if page > 1:  # the run commits what it read (partial): pending articles still count
            yield from self._article_requests(run, run.memory.pending_urls)

    def _page_problem(
        self, failure: Failure, request: scrapy.Request, url: str, page: int
    ) -> Iterator[PageFailure]:
        if failure.check(HttpError):  # type: ignore[no-untyped-call]
            status = failure.value.response.status  # type: ignore[union-attr]
            gone = ": the topic page is gone" if page == 1 and status in (404, 410) else ""
            yield PageFailure(url, page, "http", f"HTTP {status} for {url}{gone}")
        elif _too_large(failure):
            limit = request.meta.get("download_maxsize", self.settings.getint("DOWNLOAD_MAXSIZE"))
            error = f"{url}: response larger than DOWNLOAD_MAXSIZE ({limit} bytes)"
            yield PageFailure(url, page, "content", error)
        elif failure.check(IgnoreRequest):  # type: ignore[no-untyped-call]
            yield PageFailure(url, page, "refused", f"{url}: {failure.getErrorMessage()}")
        else:
            name = failure.type.__name__ if failure.type else "error"
            yield PageFailure(url, page, "network", f"{name}: {failure.getErrorMessage()} ({url})")

    # ------------------------------------------------------------------ article pages

    def _article_requests(self, run: TopicRun, urls: Iterable[str]) -> Iterator[scrapy.Request]:
        """Read the article page of new, edited and pending items, each once, within the
        run's count (``TOPICWATCH_ENRICH_MAX``); the time budget is crawler.enrichment's."""
        if not self.settings.getbool("TOPICWATCH_ENRICH", True):
            return
        limit = self.settings.getint("TOPICWATCH_ENRICH_MAX", 20)
        for url in urls:
            if len(run.articles_requested) >= limit:
                return
            if url in run.articles_requested:
                continue
            run.articles_requested.add(url)
            yield self._request(
                run, url, callback=self.parse_article, errback=self.article_failed,
                meta={"listing_url": url, ARTICLE: True, "max_retry_times": 0},
                priority=-1,  # listing pages first: paging decisions wait on them
            )  # fmt: skip

    def parse_article(self, response: Response) -> Iterator[Output]:
        run = self._run(response.request)  # type: ignore[arg-type]
        if run is not None:
            yield from self._answered(run, self._article_page(run, response))

    def _article_page(self, run: TopicRun, response: Response) -> Iterator[Output]:
        url = response.meta["listing_url"]
        if not isinstance(response, TextResponse):
            error = f"not an HTML page ({_header(response, 'Content-Type')})"
            yield ArticleFailure(url, error, run_id=run.id)  # type: ignore[misc]
            return
        facts = extract_article(page_text(response), response.url)
        yield ArticleDetails(
            url,
            facts.canonical_url,
            facts.headline,
            facts.published_at,
            facts.tags,
            url=response.url,
            status=response.status,
            body=response.body,
            content_type=_header(response, "Content-Type"),
            fetched_at=datetime.now(UTC),
            run_id=run.id,
        )

    def article_failed(self, failure: Failure) -> Iterator[Output]:
        request = failure.request  # type: ignore[attr-defined]
        run = self._run(request)
        if run is None:
            return
        message = failure.getErrorMessage()
        failed = ArticleFailure(request.meta["listing_url"], message,
                                skipped=message == BUDGET_SPENT, run_id=run.id)  # fmt: skip
        yield from self._answered(run, iter([failed]))  # type: ignore[list-item]


def page_text(response: TextResponse) -> str:
    """The page's text, decoded by the bytes when the label lies (see crawler.charset)."""
    return decode_page(response.body, response.encoding, response.text).text


_HTML_TYPES = ("", "text/html", "application/xhtml+xml")


def _is_html(response: Response) -> bool:
    """HTML by its Content-Type, or untyped: a JSON or PDF answer is no listing."""
    content_type = _header(response, "Content-Type") or ""
    return content_type.split(";")[0].strip().lower() in _HTML_TYPES


def _too_large(failure: Failure) -> bool:
    """Whether the download stopped at DOWNLOAD_MAXSIZE, on the wire or decompressing."""
    if failure.check(DownloadCancelledError):  # type: ignore[no-untyped-call]
        return True
    return bool(failure.check(IgnoreRequest)) and "DOWNLOAD_MAXSIZE" in str(failure.value)  # type: ignore[no-untyped-call]


def topic_url(url: str) -> str:
    """Validate and canonicalise a topic URL (http/https with a host), else UsageError."""
    canonical = canonical_url(url, url)
    if canonical is None or not urlsplit(url.strip()).netloc:
        raise UsageError(f"not an http(s) URL: {url!r}")
    return canonical


def _positive(value: int | str | None, name: str) -> int:
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise UsageError(f"{name} must be at least 1, not {number}")
    return number


def parse_selectors(value: str | dict[str, str] | None) -> Selectors | None:
    """CSS selector overrides from a JSON object (or dict), else UsageError."""
    if not value:
        return None
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except ValueError as error:
        raise UsageError(f"selectors are not JSON: {error}") from None
    known = {field.name for field in fields(Selectors)}
    if not isinstance(data, dict) or set(data) - known:
        unknown = sorted(set(data) - known) if isinstance(data, dict) else data
        raise UsageError(f"unknown selector(s) {unknown}; known: {', '.join(sorted(known))}")
    return Selectors(**data)


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
