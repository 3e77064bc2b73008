"""Downloader middlewares: retries that back off and honour ``Retry-After``; site-only fetches.

Scrapy's RetryMiddleware decides *whether* to retry (codes, exceptions, ``RETRY_TIMES``)
but re-sends at once, which is impolite towards a site answering 429/503 and pointless
against a short outage. This subclass keeps every one of Scrapy's decisions and only adds
*when*: the delay the server asked for, else exponential backoff. A server asking for a
longer wait than ``RETRY_AFTER_MAX`` is not retried in this run (it fails, and the next
scheduled run tries again).

:class:`SiteOnlyMiddleware` keeps every request on the topic's origins (see its docstring).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import reactor, task

from topicwatch.origins import Origins

_DELAY_KEY = "retry_delay"


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry policy, with delays between attempts."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 30.0)
        self.retry_after_max = settings.getfloat("RETRY_AFTER_MAX", 120.0)

    async def process_request(self, request: Request) -> None:
        delay = request.meta.get(_DELAY_KEY, 0)
        if delay > 0:
            await maybe_deferred_to_future(task.deferLater(reactor, delay, lambda: None))

    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        asked = retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC))
        if asked is not None and asked > self.retry_after_max:
            return response
        retry = super().process_response(request, response)
        if isinstance(retry, Request):
            retry.meta[_DELAY_KEY] = asked if asked is not None else self._backoff(retry)
        return retry

    def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        retry = super().process_exception(request, exception)
        if isinstance(retry, Request):
            retry.meta[_DELAY_KEY] = self._backoff(retry)
        return retry

    def _backoff(self, retry: Request) -> float:
        attempt = max(int(retry.meta.get("retry_times", 1)), 1)
        return float(min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max))


def retry_after_seconds(value: bytes | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), else None.

    An HTTP date is always GMT (RFC 9110), whatever zone it names: ``-0000`` (RFC 2822's
    "unknown zone") parses as a naive time, which is read as UTC rather than compared with
    an aware one (a TypeError that used to abort the retry). A date in the past means
    "now"; anything unreadable is None, and the caller backs off as for no header.
    """
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


_DELTA_SECONDS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts "²"


class SiteOnlyMiddleware:
    """Refuse every request off the topic's origins, redirects included, whatever ``dont_filter``.

    Listing page requests set ``dont_filter`` so that a redirect loop reaches the errback
    instead of vanishing in the duplicate filter; but ``dont_filter`` also switches off
    Scrapy's OffsiteMiddleware, so a 301 (or meta refresh, or a "next" link) to another
    host was followed and its page archived as the topic's. And a host-name check, which
    is all Scrapy's offers, lets through the same host on another port (a metadata or Redis
    port) and every subdomain. This one allows the topic's origin, its ``www.`` twin and
    the hosts of ``TOPICWATCH_ALLOW_HOSTS`` only (:class:`crawler.origins.Origins`), and is
    the crawl's one offsite guard (Scrapy's is switched off in the settings). Raising
    IgnoreRequest here fails the page through its errback with a message naming the URL.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.allow_hosts = crawler.settings.getlist("TOPICWATCH_ALLOW_HOSTS")
        self._origins: dict[tuple[str, tuple[str, ...]], Origins] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SiteOnlyMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        # Each request names its topic (a crawl may read several) and the hosts its topic
        # allows besides (``allow_hosts`` of the topic's order): its origins apply.
        topic_url = str(request.meta.get("topic_url") or getattr(self.crawler.spider, "url", ""))
        hosts = (*self.allow_hosts, *request.meta.get("allow_hosts", ()))
        origins = self._origins.get((topic_url, hosts))
        if origins is None:
            origins = self._origins[(topic_url, hosts)] = Origins(topic_url, list(hosts))
        if origins.permit(request.url):
            return
        raise IgnoreRequest(
            f"refused to leave the topic's site for {request.url} (not the topic's origin;"
            " other hosts must be listed in allow_hosts)"
        )


class FinishedRunMiddleware:
    """Drop the requests of a run that is already on record (its timeout struck).

    A timed-out run's queued pages, retries and article requests would otherwise still be
    fetched, holding the site's download slot from the runs that are still going; dropped
    here, each reaches its errback, which ignores a finished run.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FinishedRunMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if "run_id" not in request.meta:
            return  # robots.txt and other requests of no run
        active = getattr(self.crawler.spider, "active", {})
        run = active.get(request.meta["run_id"])
        if run is None or run.finished:
            raise IgnoreRequest(f"run {request.meta['run_id']} is over: {request.url} not fetched")
