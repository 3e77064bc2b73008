"""The daemon's cheap check before a scheduled crawl: is the topic's first page unchanged?

Starting a crawl costs a process, Scrapy's imports and an engine, about 0.6 s of CPU
whatever the page says (docs/benchmarks.md, "recrawl"); most scheduled checks find the
page unchanged. So before starting a crawl the daemon sends the very request the spider
would send first, a conditional GET of page 1 with the validators the last crawl stored,
and when the site answers a clean 304 it records the run itself, exactly as the crawl
would have (one page, not modified, its items seen again; through
:func:`archive.store.commit_run`), without starting a process.

Anything else, a 200, an error, a redirect, robots.txt not allowing or not readable, no
complete answer within the download timeout, no stored validators, another crawl of the
topic running, starts the full crawl as before, which decides everything (so a changed
page costs one extra request). This module never imports Scrapy: it runs inside the
daemon, and every request it makes has a total deadline (:mod:`crawler.http_fetch`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

from topicwatch import USER_AGENT
from topicwatch.archive import TopicBusy, open_archive, topic_lock
from topicwatch.archive.crawl_memory import page_memory, run_row
from topicwatch.archive.daemon_state import pid_alive
from topicwatch.archive.runs import begin_run, end_run_without_changes, recover_stale_runs
from topicwatch.archive.snapshots import Fetch
from topicwatch.archive.store import PageResult, RunReport, commit_run
from topicwatch.crawler import EXTRACTOR_VERSION
from topicwatch.crawler import settings as project_settings
from topicwatch.daemon.bounded import Abandoned, Cancelled, Inflight
from topicwatch.daemon.http_fetch import Answer, FetchError, fetch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbePolicy:
    """The crawl settings the probe must honour, so it asks the site as the spider would."""

    user_agent: str
    timeout: float
    obey_robots: bool
    robots_agent: str = ""  # ROBOTSTXT_USER_AGENT, else the user agent


def probe_policy(overrides: dict[str, str]) -> ProbePolicy:
    """The policy of a crawl run with ``-s`` ``overrides`` on the project's settings.

    A value the crawl would refuse (it fails the run, naming it) leaves the project's
    default here: the probe must not stop the daemon over a setting.
    """
    user_agent = overrides.get("USER_AGENT", USER_AGENT)
    try:
        timeout = float(overrides.get("DOWNLOAD_TIMEOUT", project_settings.DOWNLOAD_TIMEOUT))
    except ValueError:
        timeout = float(project_settings.DOWNLOAD_TIMEOUT)
    obey = overrides.get("ROBOTSTXT_OBEY", "").strip().lower()
    robots_agent = overrides.get("ROBOTSTXT_USER_AGENT", "")
    return ProbePolicy(user_agent, timeout, obey not in ("0", "false"), robots_agent)


class OutOfTime(Exception):
    """The check used up the topic's whole timeout (a server answering too slowly)."""


@dataclass(frozen=True)
class NotModified:
    """The site's 304 answer, with the ETag it sent back (it may be refreshed)."""

    etag: str | None


def record_if_unchanged(
    db_path: str, topic: str, url: str, policy: ProbePolicy, *, started_at: datetime,
    now: Callable[[], datetime], deadline: float | None = None, inflight: Inflight | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """Record a not-modified run of ``url`` and return its row, or None: crawl instead.

    The topic's lock is held from reading the validators to committing the run, as a crawl
    holds it, so a manual crawl meanwhile cannot be overtaken; the requests are bounded
    (see :func:`conditional_get`), so the lock is too. ``now`` is the caller's clock.
    """
    try:
        with topic_lock(db_path, url, wait=0):
            db = open_archive(db_path)
            try:
                remembered = page_memory(db, url)
                if remembered is None or not (remembered.etag or remembered.last_modified):
                    return None
                answer = conditional_get(
                    url, remembered.etag, remembered.last_modified, policy,
                    deadline=deadline, inflight=inflight,
                )  # fmt: skip
                if answer is None:
                    return None
                # As a crawl does on opening: close runs of processes that died.
                recover_stale_runs(db, now(), is_alive=pid_alive)
                return _record_not_modified(db, topic, url, answer, started_at, now)
            finally:
                db.close()
    except TopicBusy:
        return None  # the crawl finds it busy too, and says so


def _record_not_modified(
    db: Any, topic: str, url: str, answer: NotModified, started_at: datetime,
    now: Callable[[], datetime],
) -> dict[str, Any]:  # fmt: skip
    """What the spider yields for a 304 page 1, committed as the pipeline commits it."""
    run_id = begin_run(
        db, topic=topic, url=url, trigger="schedule", started_at=started_at, pid=os.getpid()
    )
    page = PageResult(url, 1, True, answer.etag, None)
    fetch = Fetch("listing", url, 1, now(), 304, None, answer.etag, None, None)
    report = RunReport((page,), fetches=(fetch,), extractor_version=EXTRACTOR_VERSION)
    try:
        commit_run(db, run_id, report, now())
    except BaseException as error:
        # Never leave a `running` row under the daemon's (live) pid: nothing would close it.
        end_run_without_changes(
            db, run_id, status="failed", reason="crash", finished_at=now(), pages=1,
            error=f"recording the unchanged page failed: {type(error).__name__}: {error}",
        )  # fmt: skip
        raise
    return run_row(db, run_id)


def conditional_get(
    url: str, etag: str | None, last_modified: str | None, policy: ProbePolicy, *,
    deadline: float | None = None, inflight: Inflight | None = None,
) -> NotModified | None:  # fmt: skip
    """Ask for ``url`` with its validators; a clean 304 or None (anything else).

    Each request (robots.txt, then the page) ends within ``DOWNLOAD_TIMEOUT`` in all, as
    Scrapy's download timeout does, and never after ``deadline`` (a ``time.monotonic()``
    value: the topic's own timeout); ``inflight`` lets the daemon abandon it at shutdown.
    """
    if policy.obey_robots and not _robots_allow(url, policy, deadline, inflight):
        return None
    headers = {"User-Agent": policy.user_agent, **_SCRAPY_HEADERS}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    answer = _get(url, headers, policy, deadline, inflight, "the 304 check")
    if answer is None or answer.status != 304:
        return None  # 200: changed, the crawl reads it; anything else, the crawl decides
    return NotModified(answer.headers.get("ETag"))


def _robots_allow(
    url: str, policy: ProbePolicy, deadline: float | None, inflight: Inflight | None
) -> bool:
    """robots.txt allows ``url`` (a missing one allows all); unreadable means ask the crawl."""
    parts = urlsplit(url)
    robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
    headers = {"User-Agent": policy.user_agent}
    answer = _get(robots_url, headers, policy, deadline, inflight, "robots.txt", 512 * 1024)
    if answer is None:
        return False
    if 400 <= answer.status < 500:
        return True  # as Scrapy: no robots.txt, no rules
    if not 200 <= answer.status < 300:
        return False
    text = answer.body.decode("utf-8", "replace")
    # Protego, as Scrapy's RobotsTxtMiddleware: wildcards, `$`, longest match wins.
    return bool(Protego.parse(text).can_fetch(url, policy.robots_agent or policy.user_agent))


def _get(
    url: str, headers: dict[str, str], policy: ProbePolicy, deadline: float | None,
    inflight: Inflight | None, what: str, max_bytes: int = 0,
) -> Answer | None:  # fmt: skip
    """One bounded GET, or None when it gets no complete answer in time (or is cancelled).

    Raises :class:`OutOfTime` when it was cut short by ``deadline`` rather than by the
    download timeout: the topic's whole time is gone, no crawl may start after it.
    """
    timeout = policy.timeout
    if deadline is not None and deadline - time.monotonic() <= timeout:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            raise OutOfTime(f"{what} did not finish")
    try:
        return fetch(
            url, headers=headers, timeout=timeout, what=what, max_bytes=max_bytes,
            inflight=inflight,
        )  # fmt: skip
    except Cancelled:
        return None  # the daemon is stopping: no run to record
    except Abandoned as error:
        if timeout < policy.timeout:
            raise OutOfTime(f"{what} did not finish") from None
        log.debug("probe of %s: %s; crawling instead", url, error)
        return None
    except FetchError as error:
        log.debug("probe of %s: %s; crawling instead", url, error)
        return None


# Scrapy's default request headers, so caches and servers answer the probe as the crawl.
_SCRAPY_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
    "Accept-Encoding": "gzip, deflate",
}
