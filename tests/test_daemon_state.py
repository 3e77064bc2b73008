"""The daemon's rules without a daemon: streaks and alert transitions, the outbox, the
heartbeat, status, catch-up and backoff arithmetic on a fake clock, and secret masking."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from topicwatch.archive import open_archive
from topicwatch.archive.daemon_state import (
    claim_heartbeat,
    daemon_alive,
    live_crawl_pids,
    mark_alert,
    pending_alerts,
    read_heartbeat,
    record_outcome,
    register_topics,
    release_heartbeat,
    set_next_runs,
)
from topicwatch.archive.daemon_status import read_status
from topicwatch.archive.lock import topic_lock
from topicwatch.archive.runs import begin_run, end_run_without_changes, run_line
from topicwatch.cli import cli
from topicwatch.cli.daemon import format_status
from topicwatch.daemon.config import AlertConfig, TopicConfig
from topicwatch.daemon.hooks import HookError, describe_hook, mask_url, run_command
from topicwatch.daemon.log import JsonLines
from topicwatch.daemon.schedule import backoff_delay, first_run_time, next_after_outcome

T0 = datetime(2026, 2, 14, 12, 0, tzinfo=UTC)
URL = "https://novaist.jp/articles/tag/nato/"


@pytest.fixture
def archive(db):
    database = open_archive(db)
    yield database
    database.close()


@pytest.fixture
def topic_id(archive):
    return register_topics(archive, [("nato", URL, "every 30m")], T0)[URL]


def outcome(archive, topic_id, ok, minute, hooks=("webhook",)):
    return record_outcome(
        archive,
        topic_id,
        ok=ok,
        now=T0 + timedelta(minutes=minute),
        alert_after=3,
        hooks=hooks,
        error=None if ok else "http: HTTP 500",
        run_id=minute,
    )


def test_alerts_fire_once_at_the_threshold_and_once_on_recovery(archive, topic_id):
    transitions = [outcome(archive, topic_id, ok, m) for m, ok in enumerate([0, 0, 0, 0, 1, 1])]
    assert transitions == [
        (1, None),
        (2, None),
        (3, "failing"),
        (4, None),
        (0, "recovered"),
        (0, None),
    ]
    alerts = pending_alerts(archive)
    assert [(a.hook, a.kind) for a in alerts] == [("webhook", "failing"), ("webhook", "recovered")]
    payload = alerts[0].payload
    assert payload["topic"] == "nato" and payload["url"] == URL
    assert payload["consecutive_failures"] == 3 and payload["error"] == "http: HTTP 500"
    assert "nato failing" in payload["text"]


def test_an_ok_run_below_the_threshold_sends_nothing(archive, topic_id):
    assert outcome(archive, topic_id, False, 0) == (1, None)
    assert outcome(archive, topic_id, True, 1) == (0, None)
    assert pending_alerts(archive) == []


def test_streaks_survive_re_registration_and_one_row_per_hook(archive, topic_id):
    outcome(archive, topic_id, False, 0)
    outcome(archive, topic_id, False, 1)
    register_topics(archive, [("nato", URL, "every 1h")], T0)  # a daemon restart
    assert outcome(archive, topic_id, False, 2, hooks=("webhook", "command"))[1] == "failing"
    assert sorted(a.hook for a in pending_alerts(archive)) == ["command", "webhook"]


def test_outbox_retries_then_gives_up_and_never_resends(archive, topic_id):
    for minute in range(3):
        outcome(archive, topic_id, False, minute)
    (alert,) = pending_alerts(archive)
    for attempt in range(4):
        mark_alert(archive, alert.id, state="pending", now=T0, error="unreachable")
        assert [a.attempts for a in pending_alerts(archive)] == [attempt + 1]
    mark_alert(archive, alert.id, state="pending", now=T0, error="unreachable")
    assert pending_alerts(archive) == []
    state = archive.execute("SELECT state, attempts FROM daemon_alerts").fetchone()
    assert state == ("failed", 5)


def test_a_sent_alert_is_not_pending(archive, topic_id):
    for minute in range(3):
        outcome(archive, topic_id, False, minute)
    (alert,) = pending_alerts(archive)
    mark_alert(archive, alert.id, state="sent", now=T0)
    assert pending_alerts(archive) == []
    assert archive.execute("SELECT sent_at FROM daemon_alerts").fetchone()[0] == T0.isoformat()


def test_heartbeat_liveness(archive):
    claim_heartbeat(archive, pid=42, hostname="h", config_path=None, beat_seconds=15, now=T0)
    beat = read_heartbeat(archive)
    alive = lambda now, pid_exists=True: daemon_alive(  # noqa: E731
        beat, now, hostname="h", is_alive=lambda pid: pid_exists
    )
    assert alive(T0 + timedelta(seconds=44))
    assert not alive(T0 + timedelta(seconds=46))  # three beats missed
    assert not alive(T0, pid_exists=False)
    assert daemon_alive(beat, T0, hostname="elsewhere", is_alive=lambda pid: False)
    release_heartbeat(archive, 42, T0)
    assert not daemon_alive(read_heartbeat(archive), T0, hostname="h", is_alive=lambda p: True)


def test_status_reports_last_and_next_runs(archive, topic_id):
    claim_heartbeat(archive, pid=42, hostname="h", config_path=None, beat_seconds=15, now=T0)
    run_id = begin_run(archive, topic="nato", url=URL, trigger="schedule", started_at=T0, pid=7)
    end_run_without_changes(
        archive,
        run_id,
        status="failed",
        reason="http",
        error="HTTP 500",
        finished_at=T0 + timedelta(seconds=3),
    )
    outcome(archive, topic_id, False, 0)
    set_next_runs(archive, {topic_id: T0 + timedelta(minutes=30)}, T0)
    now = T0 + timedelta(seconds=5)
    status = read_status(archive, now, hostname="h", is_alive=lambda pid: True)
    (topic,) = status.topics
    assert status.alive
    assert topic.next_run_at == T0 + timedelta(minutes=30)
    assert topic.consecutive_failures == 1
    assert topic.last_run["status"] == "failed" and topic.last_run["duration"] == 3
    data = status.to_json()
    assert json.loads(json.dumps(data))["topics"][0]["next_run_at"] == "2026-02-14T12:30:00+00:00"
    text = "\n".join(format_status(status, now))
    assert "daemon: running (pid 42 on h, up 5s, last beat 5s ago)" in text
    assert "schedule: every 30m; next run in 29m55s" in text
    assert "last run: failed (run 1, schedule)" in text
    assert "error: http: HTTP 500" in text
    assert "consecutive failures: 1" in text


def test_status_command_reads_the_archive_only(db, archive, topic_id):
    result = CliRunner().invoke(cli, ["status", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("daemon: never ran on this archive")
    missing = CliRunner().invoke(cli, ["status", "--db", str(db.parent / "none.db")])
    assert missing.exit_code == 2 and "archive not found" in missing.output


def test_only_a_crawl_holding_its_topic_lock_counts_as_live(db, archive):
    run_id = begin_run(archive, topic="nato", url=URL, trigger="manual", started_at=T0, pid=1)
    assert live_crawl_pids(archive, db) == set()  # pid 1 exists, but holds no lock
    end_run_without_changes(
        archive, run_id, status="aborted", reason="crash", error="x", finished_at=T0
    )
    begin_run(archive, topic="nato", url=URL, trigger="manual", started_at=T0, pid=os.getpid())
    with topic_lock(db, URL):
        assert live_crawl_pids(archive, db) == {os.getpid()}


# --------------------------------------------------------------------------- schedule


def topic(**fields) -> TopicConfig:
    return TopicConfig(name="nato", url=URL, **fields)


def test_first_run_catches_up_or_keeps_the_rhythm():
    every = topic(every=1800)
    assert first_run_time(every, UTC, None, T0) == T0
    assert first_run_time(every, UTC, T0 - timedelta(minutes=31), T0) == T0
    assert first_run_time(every, UTC, T0 - timedelta(minutes=10), T0) == T0 + timedelta(minutes=20)


def test_first_run_of_a_cron_topic():
    hourly = topic(every=None, cron="0 * * * *")
    assert first_run_time(hourly, UTC, T0 - timedelta(minutes=61), T0) == T0
    assert first_run_time(hourly, UTC, T0 - timedelta(minutes=5), T0) == T0
    half_past = T0 + timedelta(minutes=30)
    assert first_run_time(hourly, UTC, T0, half_past) == T0 + timedelta(hours=1)


def test_first_run_after_the_clock_was_set_back():
    """The last run looks a day ahead: count from now, never wait the day out."""
    every = topic(every=1800)
    assert first_run_time(every, UTC, T0 + timedelta(days=1), T0) == T0 + timedelta(minutes=30)


def test_backoff_doubles_from_the_second_failure_and_is_capped():
    delays = [backoff_delay(60, failures, cap=600) for failures in range(1, 7)]
    assert delays == [60, 120, 240, 480, 600, 600]
    assert backoff_delay(3600, 10, cap=600) == 3600  # never below the interval
    assert backoff_delay(60, 10_000, cap=600) == 600


def test_next_run_after_an_outcome():
    scheduled = T0 + timedelta(seconds=60)
    assert next_after_outcome(scheduled, T0, interval=60, failures=0, cap=600) == scheduled
    assert next_after_outcome(scheduled, T0, interval=60, failures=1, cap=600) == scheduled
    pushed = next_after_outcome(scheduled, T0, interval=60, failures=3, cap=600)
    assert pushed == T0 + timedelta(seconds=240)


# --------------------------------------------------------------------------- hooks, logs


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/…"),
        ("https://user:pw@example.com/hook?token=abc", "https://example.com/…"),
        ("http://127.0.0.1:8080/?token=abc", "http://127.0.0.1:8080/…"),
        ("https://example.com/", "https://example.com/"),
    ],
)
def test_webhook_urls_are_masked(url, masked):
    assert mask_url(url) == masked


def test_hook_descriptions_hide_secrets():
    alerts = AlertConfig(webhook="https://x.example/a?k=secret", command=("/bin/notify", "secret"))
    assert describe_hook("webhook", alerts) == "webhook https://x.example/…"
    assert describe_hook("command", alerts) == "command notify"


def test_a_failing_command_hook_is_a_hook_error():
    with pytest.raises(HookError, match="exited 3: boom"):
        run_command((sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"), {})


def test_run_lines():
    run = {
        "id": 12,
        "pages": 2,
        "items_seen": 40,
        "items_new": 3,
        "items_edited": 1,
        "items_vanished": 0,
        "reason": None,
        "error": None,
    }
    assert (
        run_line("nato", "ok", run, 1.43)
        == "nato: ok run 12: 2 pages, 40 seen, 3 new, 1 edited, 0 vanished in 1.4s"
    )
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "line", (), None)
    record.fields = {"event": "run", "topic": "nato"}
    data = json.loads(JsonLines().format(record))
    assert (data["message"], data["event"], data["level"]) == ("line", "run", "info")
