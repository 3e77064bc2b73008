"""The daemon's crawl executor: the check due longest runs first, one site at a time.

APScheduler's ``ThreadPoolExecutor`` queues due jobs in a ``concurrent.futures`` pool:
first submitted, first run. Under overload that starves topics. When 100 topics fell due
at once every minute and only ~40 checks a minute could run, a topic that finished went
back into the queue behind the ones still waiting, while coalescing (one run standing for
every due time it was late for) folded the late topics' due times away: after 19.5
minutes the first topics had run 19 times, the last few once, one never. And two workers
of one pool would crawl one site's topics at the same time, twice what its politeness
allows (Scrapy's delay and per-domain limit hold within a process only).

:class:`FairExecutor` is an APScheduler executor with its own queue instead:

* a job waits in the queue with the due time it was first late for, and whichever job
  has waited longest is taken first, so every topic gets its turn however far behind the
  daemon is;
* a job is taken only while its site has fewer than ``per_site`` crawls running, and no
  sooner than ``site_gap`` seconds after the site's last crawl ended (Scrapy's
  ``DOWNLOAD_DELAY``, carried across crawls and workers);
* APScheduler's own accounting still holds: a job is one instance from submission until
  its run ends, so a topic due again while it waits or runs is ``max_instances`` (the
  daemon records that due time as missed) instead of queued twice;
* a running job may take other queued jobs of its site along (:meth:`take_along`: the
  Scrapyd topics one node job crawls together). They leave the queue at once and run in
  the taker's slot once it is done, one after the other, before the site is let go: a
  batch is one crawl of the site, counted once.

Standard library and APScheduler only.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_job

log = logging.getLogger("topicwatch.daemon")


@dataclass(order=True)
class _Queued:
    due: datetime
    number: int  # submission order: ties (topics due at the same moment) keep it
    job: Any = field(compare=False)
    run_times: list[datetime] = field(compare=False)
    site: str = field(compare=False)


@dataclass(frozen=True)
class Waiting:
    """A due check that has not started: which topic, and since when it was due."""

    job_id: str
    due: datetime
    site: str


class FairExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs due jobs on ``size`` threads: longest due first, within each site's limits.

    ``site_of(job)`` names the site a job crawls (its origin). Jobs the executor runs are
    ordinary APScheduler jobs; their events and instance counts are APScheduler's.
    """

    def __init__(
        self,
        size: int,
        site_of: Callable[[Any], str],
        *,
        per_site: int = 1,
        site_gap: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._size = size
        self._site_of = site_of
        self._per_site = per_site
        self._site_gap = site_gap
        self._monotonic = monotonic
        self._changed = threading.Condition()
        self._queue: list[_Queued] = []
        self._submitted = 0
        self._running: dict[str, int] = {}  # crawls running per site
        self._free_at: dict[str, float] = {}  # monotonic time a site may be crawled again
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._riders: dict[int, list[_Queued]] = {}  # by slot thread: jobs taken along

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        for number in range(self._size):
            thread = threading.Thread(
                target=self._serve, name=f"crawl slot {number + 1}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; those still queued never run (the daemon is stopping)."""
        with self._changed:
            self._closed = True
            self._queue.clear()
            self._changed.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        with self._changed:
            self._submitted += 1
            # The first due time it stands for: a coalesced job has been late since then.
            entry = _Queued(min(run_times), self._submitted, job, run_times, self._site_of(job))
            self._queue.append(entry)
            self._queue.sort()
            self._changed.notify()

    def waiting(self) -> list[Waiting]:
        """The checks due and not started, longest due first (for ``topicwatch status``)."""
        with self._changed:
            return [Waiting(entry.job.id, entry.due, entry.site) for entry in self._queue]

    def running(self) -> dict[str, int]:
        """Crawls running per site."""
        with self._changed:
            return dict(self._running)

    def take_along(self, site: str, wanted: Callable[[Any], bool], limit: int) -> list[Any]:
        """Up to ``limit`` queued jobs of ``site`` that ``wanted`` accepts, longest due
        first, taken out of the queue for the calling job (which must be one this executor
        runs): they run in its slot right after it, while its site is still held, so they
        are never taken separately meanwhile and never count as a crawl of their own."""
        taken: list[_Queued] = []
        if threading.current_thread() not in self._threads:
            return []  # no slot of ours would run them: they stay queued
        with self._changed:
            for entry in list(self._queue):
                if len(taken) >= limit:
                    break
                if entry.site == site and wanted(entry.job):
                    self._queue.remove(entry)
                    taken.append(entry)
            if taken:
                self._riders.setdefault(threading.get_ident(), []).extend(taken)
        return [entry.job for entry in taken]

    @contextmanager
    def holding(self, site: str) -> Iterator[None]:
        """Count a crawl of ``site`` that runs outside the slots (a Scrapyd job a previous
        daemon dispatched, followed again after a restart): no queued job of the site is
        taken beyond ``per_site`` meanwhile. The crawl is already running, so this never
        waits, even when it takes the site over its limit."""
        with self._changed:
            self._running[site] = self._running.get(site, 0) + 1
        try:
            yield
        finally:
            self._release(site)

    # ------------------------------------------------------------------ slots

    def _serve(self) -> None:
        while True:
            entry = self._take()
            if entry is None:
                return
            try:
                self._run(entry)
            finally:
                try:
                    # The jobs it took along (take_along), in this slot, the site still
                    # held: each ends its APScheduler instance as any job does.
                    for rider in self._riders.pop(threading.get_ident(), []):
                        self._run(rider)
                finally:
                    self._release(entry.site)

    def _run(self, entry: _Queued) -> None:
        try:
            events = run_job(
                entry.job, entry.job._jobstore_alias, entry.run_times, self._logger.name
            )
        except BaseException:
            self._run_job_error(entry.job.id, *sys.exc_info()[1:])
        else:
            self._run_job_success(entry.job.id, events)

    def _take(self) -> _Queued | None:
        """The queued job due longest whose site may be crawled now; waits for one."""
        with self._changed:
            while not self._closed:
                now = self._monotonic()
                soonest: float | None = None
                for index, entry in enumerate(self._queue):
                    if self._running.get(entry.site, 0) >= self._per_site:
                        continue
                    free_at = self._free_at.get(entry.site, 0.0)
                    if free_at > now:
                        soonest = free_at if soonest is None else min(soonest, free_at)
                        continue
                    del self._queue[index]
                    self._running[entry.site] = self._running.get(entry.site, 0) + 1
                    return entry
                self._changed.wait(None if soonest is None else soonest - now)
            return None

    def _release(self, site: str) -> None:
        with self._changed:
            left = self._running.get(site, 1) - 1
            if left > 0:
                self._running[site] = left
            else:
                self._running.pop(site, None)
            if self._site_gap > 0:
                self._free_at[site] = self._monotonic() + self._site_gap
            # Forget sites that are free again: a daemon of months sees many.
            for name, at in list(self._free_at.items()):
                if at <= self._monotonic() and name not in self._running:
                    del self._free_at[name]
            self._changed.notify_all()
