"""Late runs on a fake clock: what a run submitted late stands for (crawler.schedule.coalesce).

After a suspend or SIGSTOP the scheduler runs a topic once; the due times folded into it
are "missed", and a next due time nearer than the one run for is taken by the run too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from topicwatch.daemon.config import TopicConfig
from topicwatch.daemon.schedule import Coalesced, coalesce, make_trigger

T0 = datetime(2026, 2, 14, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def every(seconds: float):
    return lambda moment: moment + timedelta(seconds=seconds)


def at(seconds: float) -> datetime:
    return T0 + seconds * S


def test_an_on_time_run_misses_nothing():
    assert coalesce(at(0), at(0), at(0.01), at(60), every(60)) == Coalesced(())


def test_a_run_late_by_less_than_half_an_interval_stands_for_its_own_due_time():
    assert coalesce(at(60), at(60), at(80), at(120), every(60)) == Coalesced(())


def test_a_run_nearer_the_next_due_time_takes_it_too():
    # Due at 60, run at 119 (SIGCONT): the due time at 120 must not run a second later.
    plan = coalesce(at(60), at(60), at(119), at(120), every(60))
    assert plan == Coalesced((at(60),), skip=at(120))


def test_due_times_folded_into_a_late_run_are_missed():
    # Expected at 10; stopped until 74: APScheduler submits due time 70 alone.
    plan = coalesce(at(10), at(70), at(74), at(80), every(10))
    assert plan.missed == tuple(at(s) for s in (10, 20, 30, 40, 50, 60)) and plan.skip is None
    plan = coalesce(at(10), at(70), at(78), at(80), every(10))
    assert plan.missed == tuple(at(s) for s in (10, 20, 30, 40, 50, 60, 70))
    assert plan.skip == at(80)


def test_a_jittered_due_time_is_not_counted_twice():
    # The due time submitted lies a little after its unjittered twin (jitter 3 s).
    plan = coalesce(at(10), at(42.5), at(43), at(52), every(10))
    assert plan.missed == tuple(at(s) for s in (10, 20, 30))


def test_a_due_time_skipped_while_the_previous_run_went_on_is_missed():
    plan = coalesce(at(10), at(10), at(10.2), at(20), every(10), ran=False)
    assert plan == Coalesced((at(10),))


def test_cron_due_times_count_as_the_crontab_says():
    topic = TopicConfig(name="t", url="https://example.jp/t/", every=None, cron="0 * * * *")
    trigger = make_trigger(topic, UTC, jitter=False)
    step = lambda moment: trigger.get_next_fire_time(moment, moment)  # noqa: E731
    hour = timedelta(hours=1)
    # Expected at 12:00, suspended until 15:50: due 15:00 submitted, 16:00 ten minutes off.
    plan = coalesce(T0, T0 + 3 * hour, T0 + 3 * hour + 50 * 60 * S, T0 + 4 * hour, step)
    assert plan.missed == (T0, T0 + hour, T0 + 2 * hour, T0 + 3 * hour)
    assert plan.skip == T0 + 4 * hour
