"""Where the archive may have missed items, and the crawl that fills each hole.

Three kinds of gap, per topic:

* ``page-limit`` – an ok run read its page limit without reaching archived items
  (``crawl_runs.gap_suspected``): items between its last page and the old ones are missing.
* ``partial`` – an ok run could not read a later page (robots.txt refused it, a lasting
  404 or 5xx): it archived what it read, and items beyond may be missing.
* ``downtime`` – no run for more than twice the usual interval (the median gap between
  scheduled runs' starts), including one still going. Only a schedule sets an interval:
  a topic crawled by hand has no run that was due (its "usual interval" was the median
  of an operator's habits, 0m for two crawls in a minute).
* ``failed`` – a streak of failed runs. An aborted run (Ctrl-C, a shutdown) was stopped,
  not failed: it neither starts nor breaks a streak.

A gap is *covered* once a later stored listing ends in an item first seen before the
gap began: that run read from page 1 down past everything newer, so nothing still listed
was missed (items added and removed inside the gap are beyond recovery). Otherwise it is
*open*, and ``pages`` is how far a crawl of ``url`` must read down to fill it (the CLI
turns that into the ``topicwatch crawl --pages N`` to run): N is estimated from where the
gap's edge sits now (items per page from recent first pages, plus the arrivals since),
with a page to spare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median

import sqlite_utils

from topicwatch.archive.timestamps import iso, parse_iso

INTERVALS = 2
MAX_PAGES = 50
DEFAULT_PER_PAGE = 20


@dataclass(frozen=True)
class Gap:
    """One period in which a topic's items may have been missed."""

    topic: str
    kind: str
    start: str
    end: str | None
    runs: tuple[int, ...]
    detail: str
    status: str
    pages: int  # listing pages a crawl must read to fill it
    url: str  # the topic's listing


@dataclass(frozen=True)
class _Run:
    id: int
    trigger: str
    started_at: datetime
    status: str
    gap_suspected: bool
    pages: int
    items_seen: int
    items_new: int
    first_page_items: int | None
    reason: str | None
    error: str | None


def find_gaps(db: sqlite_utils.Database, now: datetime, topic_id: int | None = None) -> list[Gap]:
    """Every gap of every active topic (or of one, retired or not), oldest first within a
    topic."""
    topics = db.execute(
        "SELECT id, name, url FROM topics WHERE (? IS NULL AND retired_at IS NULL) OR id = ?"
        " ORDER BY name",
        [topic_id, topic_id],
    ).fetchall()
    gaps: list[Gap] = []
    for one_id, name, url in topics:
        gaps += _TopicGaps(db, one_id, name, url, now).find()
    return gaps


class _TopicGaps:
    """The runs and listings of one topic, and the rules above applied to them."""

    def __init__(
        self, db: sqlite_utils.Database, topic_id: int, name: str, url: str, now: datetime
    ) -> None:
        self.name, self.url, self.now = name, url, now
        self.runs = [
            _Run(r[0], r[1], parse_iso(r[2]), *r[3:])
            for r in db.execute(
                "SELECT id, trigger, started_at, status, gap_suspected, pages, items_seen,"
                " items_new, first_page_items, reason, error FROM crawl_runs"
                " WHERE topic_id = ? AND status != 'running' AND mode = 'crawl'"
                " ORDER BY id",
                [topic_id],
            )
        ]
        # Per stored listing: its run and when its last (deepest) item was first seen.
        self.tails: list[tuple[int, str]] = db.execute(
            "SELECT l.run_id, (SELECT i.first_seen_at FROM listing_entries AS e"
            " JOIN items AS i ON i.id = e.item_id WHERE e.listing_id = l.id"
            " ORDER BY e.position DESC LIMIT 1) FROM listings AS l WHERE l.topic_id = ?"
            " ORDER BY l.id",
            [topic_id],
        ).fetchall()
        ok = [run for run in self.runs if run.status == "ok"]
        counts = [run.first_page_items for run in ok if run.first_page_items]
        self.per_page = int(median(counts)) if counts else DEFAULT_PER_PAGE
        self.ok = ok

    def find(self) -> list[Gap]:
        gaps = self._page_limits() + self._downtimes() + self._failed_streaks()
        return sorted(gaps, key=lambda gap: (gap.start, gap.kind))

    def _page_limits(self) -> list[Gap]:
        return [
            self._gap(
                "partial" if run.reason == "partial" else "page-limit",
                self._last_ok_before(run.started_at) or run.started_at,
                run.started_at,
                (run.id,),
                f"run {run.id} read {run.pages} page(s) and stopped: {run.error}"
                if run.reason == "partial"
                else f"run {run.id} read {run.pages} page(s) of new items and stopped at its"
                " page limit before reaching archived ones",
                covered=self._covered(run.id, run.started_at),
                depth=run.items_seen + self._arrivals_after(run.id),
            )
            for run in self.ok
            if run.gap_suspected
        ]

    def _downtimes(self) -> list[Gap]:
        interval = self._usual_interval()
        if interval is None:
            return []
        gaps = []
        bounds: list[tuple[_Run, _Run | None]] = [*pairwise(self.runs), (self.runs[-1], None)]
        for before, after in bounds:
            end = after.started_at if after else self.now
            if end - before.started_at <= INTERVALS * interval:
                continue
            gaps.append(
                self._gap(
                    "downtime",
                    before.started_at,
                    after.started_at if after else None,
                    (before.id,) + ((after.id,) if after else ()),
                    f"no run for {_human(end - before.started_at)}"
                    f" (usual interval {_human(interval)})",
                    covered=self._covered_from(after.started_at if after else None),
                    depth=self._depth_above(before.started_at, end),
                )
            )
        return gaps

    def _failed_streaks(self) -> list[Gap]:
        streaks: list[list[_Run]] = []
        for run in self.runs:
            if run.status != "failed":
                continue
            if streaks and self._follows(streaks[-1][-1], run):
                streaks[-1].append(run)
            else:
                streaks.append([run])
        gaps = []
        for streak in streaks:
            first, last = streak[0], streak[-1]
            after = self._next_ok(last.started_at)
            gaps.append(
                self._gap(
                    "failed",
                    first.started_at,
                    after.started_at if after else None,
                    tuple(run.id for run in streak),
                    f"{len(streak)} failed run(s) in a row",
                    covered=self._covered_from(last.started_at, first.started_at),
                    depth=self._depth_above(first.started_at, after.started_at if after else None),
                )
            )
        return gaps

    def _follows(self, previous: _Run, run: _Run) -> bool:
        between = [r for r in self.runs if previous.id < r.id < run.id]  # by sequence, not clock
        return not any(r.status == "ok" for r in between)

    def _usual_interval(self) -> timedelta | None:
        runs = [run for run in self.runs if run.trigger == "schedule"]
        if len(runs) < 3:
            return None
        seconds = median((b.started_at - a.started_at).total_seconds() for a, b in pairwise(runs))
        return timedelta(seconds=seconds) if seconds >= 60 else None

    def _last_ok_before(self, moment: datetime) -> datetime | None:
        return max((run.started_at for run in self.ok if run.started_at < moment), default=None)

    def _next_ok(self, moment: datetime) -> _Run | None:
        return next((run for run in self.ok if run.started_at >= moment), None)

    def _covered_from(self, moment: datetime | None, anchor: datetime | None = None) -> bool:
        """Covered by the first ok run after ``moment`` or a later one (see module doc).

        Items first seen before ``anchor`` (default: that run's start) are the old ones.
        """
        after = None if moment is None else self._next_ok(moment)
        return after is not None and self._covered(after.id, anchor or after.started_at)

    def _covered(self, from_run: int, anchor: datetime) -> bool:
        """Whether a listing in force from ``from_run`` on ends in an item older than anchor."""
        in_force = [tail for run_id, tail in self.tails if run_id <= from_run][-1:]
        later = [tail for run_id, tail in self.tails if run_id > from_run]
        return any(tail is not None and tail < iso(anchor) for tail in in_force + later)

    def _arrivals_after(self, run_id: int) -> int:
        return sum(run.items_new for run in self.ok if run.id > run_id)

    def _depth_above(self, start: datetime, end: datetime | None) -> int:
        """How deep the newest item archived before ``start`` now sits (estimated)."""
        before = [run for run in self.ok if run.started_at < start]
        known = self._arrivals_after(before[-1].id) if before else 0
        hole = ((end or self.now) - start).total_seconds()
        return 1 + max(known, math.ceil(self._arrival_rate() * hole))

    def _arrival_rate(self) -> float:
        """New items per second over the topic's ok runs (its first run's backlog aside)."""
        if len(self.ok) < 2:
            return 0.0
        span = (self.ok[-1].started_at - self.ok[0].started_at).total_seconds()
        return sum(run.items_new for run in self.ok[1:]) / span if span > 0 else 0.0

    def _gap(
        self,
        kind: str,
        start: datetime,
        end: datetime | None,
        runs: tuple[int, ...],
        detail: str,
        *,
        covered: bool,
        depth: int,
    ) -> Gap:
        pages = min(MAX_PAGES, math.ceil(depth / self.per_page) + 1)
        status = "covered" if covered else "open"
        return Gap(
            self.name,
            kind,
            iso(start),
            None if end is None else iso(end),
            runs,
            detail,
            status,
            pages,
            self.url,
        )


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return " ".join(part for part in parts if part) or "0m"
