"""Schedule arithmetic for the daemon: triggers from config, catch-up at start, backoff.

Kept apart from the daemon (scheduler.py, which nothing may import) so that the rules can
be tested with a fake clock: every function takes the times it needs. Imports APScheduler's
triggers only, never Scrapy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from topicwatch.daemon.config import TopicConfig
from topicwatch.daemon.cron import CRON_FIELDS, cron_fields, cron_values, restricted

# APScheduler 3.x numbers weekdays from Monday = 0, crontab from Sunday = 0
# (agronholm/apscheduler#286), so weekdays are handed over by name.
_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_ARGS = ("minute", "hour", "day", "month", "day_of_week")
_BACKOFF_DOUBLINGS_MAX = 32  # 2**32 intervals is beyond any cap; avoids huge floats
_MISSED_COUNT_MAX = 100_000  # due times counted one by one (a week of 6 s intervals)


def make_trigger(topic: TopicConfig, timezone: tzinfo, *, jitter: bool = True) -> BaseTrigger:
    """The APScheduler trigger of a topic (``jitter=False`` for arithmetic on due times)."""
    spread = topic.jitter if jitter and topic.jitter > 0 else None
    if topic.cron:
        return cron_trigger(topic.cron, timezone, spread)
    assert topic.every is not None
    return IntervalTrigger(seconds=topic.every, timezone=timezone, jitter=spread)


def cron_trigger(expression: str, timezone: tzinfo, jitter: float | None = None) -> BaseTrigger:
    """A trigger with crontab(5) meaning: weekday 0 (and 7) is Sunday, nicknames expand,
    and restricted day-of-month and day-of-week fields match either-or (APScheduler's
    CronTrigger requires both, so that case is two triggers, whichever fires first)."""
    fields = cron_fields(expression)
    minute, hour, day, month, weekday = fields
    if restricted(day) and restricted(weekday):
        by_date = _cron([minute, hour, day, month, "*"], timezone)
        by_weekday = _cron([minute, hour, "*", month, weekday], timezone)
        return OrTrigger([by_date, by_weekday], jitter=jitter)
    return _cron(fields, timezone, jitter)


def _cron(fields: list[str], timezone: tzinfo, jitter: float | None = None) -> CronTrigger:
    args: dict[str, str] = {}
    for arg, name, text in zip(_CRON_ARGS, CRON_FIELDS, fields, strict=True):
        if text == "*":
            args[arg] = text
        elif arg == "day_of_week":
            days = sorted({value % 7 for value in cron_values(text, name)})
            args[arg] = ",".join(_WEEKDAY_NAMES[day] for day in days)
        else:
            args[arg] = ",".join(str(value) for value in sorted(cron_values(text, name)))
    return CronTrigger(timezone=timezone, jitter=jitter, **args)


def interval_seconds(topic: TopicConfig, timezone: tzinfo, now: datetime) -> float:
    """The topic's period: ``every``, or the gap between a cron schedule's next two runs."""
    if topic.every is not None:
        return topic.every
    trigger = make_trigger(topic, timezone, jitter=False)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    if first is None or second is None:
        return 24 * 3600.0
    return max(float((second - first).total_seconds()), 1.0)


def first_run_time(
    topic: TopicConfig, timezone: tzinfo, last_ok: datetime | None, now: datetime
) -> datetime:
    """When a topic first runs after the daemon starts.

    At once if it never ran ok or its last ok run is older than its schedule allows
    (catch-up after downtime); otherwise when the schedule is next due counted from that
    run, so a restart neither crawls early nor waits a whole extra interval.
    """
    if last_ok is None:
        return now
    last_ok = min(last_ok, now)  # a clock set back: that run looks future; it was just now
    if topic.every is not None:
        due = last_ok + timedelta(seconds=topic.every)
    else:
        # Strictly after the run: a cron trigger counts a fire time equal to "now" as due.
        after = last_ok + timedelta(seconds=1)
        due = make_trigger(topic, timezone, jitter=False).get_next_fire_time(None, after)
    return now if due is None or due <= now else due


def backoff_delay(interval: float, failures: int, cap: float) -> float:
    """Seconds to wait after ``failures`` consecutive failures: interval × 2^(failures−1).

    Capped at ``cap`` (or the interval itself when that is longer), so a dead site is
    retried less and less often but never less often than the cap.
    """
    if failures <= 1:
        return interval
    doublings = min(failures - 1, _BACKOFF_DOUBLINGS_MAX)
    return min(interval * (1 << doublings), max(cap, interval))


def next_after_outcome(
    scheduled: datetime | None,
    finished: datetime,
    *,
    interval: float,
    failures: int,
    cap: float,
) -> datetime | None:
    """The next run after a run ended: the schedule's, pushed later while failures back off."""
    if failures < 2:
        return scheduled
    backed_off = finished + timedelta(seconds=backoff_delay(interval, failures, cap))
    return backed_off if scheduled is None or scheduled < backed_off else scheduled


@dataclass(frozen=True)
class Coalesced:
    """What a run submitted late stands for: the due times that get no run of their own,
    and (``skip``) a next due time so near that the run takes it too."""

    missed: tuple[datetime, ...]
    skip: datetime | None = None


def coalesce(
    expected: datetime | None,
    due: datetime,
    now: datetime,
    following: datetime | None,
    step: Callable[[datetime], datetime | None],
    *,
    ran: bool = True,
) -> Coalesced:
    """Account for one submission of a topic's job at ``now``.

    APScheduler (``coalesce=True``) runs a job that is late, after a suspend, a SIGSTOP or a
    busy pool, once, for its latest due time ``due``, and says nothing of the due times
    from ``expected`` (the one it was waiting for) on that it folded into it; the next due
    time ``following`` can then come a moment after the late run. Here the run stands for
    the due time nearest its start: when ``following`` is nearer than ``due``, it is
    skipped too, so two runs are never less than half an interval apart. Every due time
    left without a run of its own is ``missed``; with ``ran`` False (the previous run was
    still going) ``due`` itself is. ``step`` gives the due time after one, without jitter.
    """
    missed = list(_due_before(expected, due, step)) if expected is not None else []
    if not ran:
        return Coalesced((*missed, due))
    if following is not None and following - now < now - due:
        return Coalesced((*missed, due), skip=following)
    return Coalesced(tuple(missed))


def _due_before(
    first: datetime, due: datetime, step: Callable[[datetime], datetime | None]
) -> list[datetime]:
    """Due times from ``first`` that are at least half a gap before ``due`` (a jittered due
    time lies a little after its unjittered twin, which must not count)."""
    found: list[datetime] = []
    moment: datetime | None = first
    while moment is not None and len(found) < _MISSED_COUNT_MAX:
        after = step(moment)
        if after is None or moment + (after - moment) / 2 > due:
            break
        found.append(moment)
        moment = after
    return found
