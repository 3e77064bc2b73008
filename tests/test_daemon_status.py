"""``topicwatch status`` tells the truth about jobs and alerts: a stuck job is shown (and
was alerted at once), a running crawl says for how long, and an alert reads "sent" only
once every hook took it. Rules on a fake clock, in process, against a real archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from topicwatch.archive import open_archive
from topicwatch.archive.daemon_state import (
    beat,
    claim_heartbeat,
    mark_alert,
    pending_alerts,
    record_outcome,
    record_stuck,
    register_topics,
)
from topicwatch.archive.daemon_status import read_status
from topicwatch.archive.runs import begin_run, end_run_without_changes
from topicwatch.cli.daemon import format_status

T0 = datetime(2026, 2, 14, 12, 0, tzinfo=UTC)
URL = "https://novaist.jp/articles/tag/nato/"
STUCK = "running for 12m05s, over its 10m timeout (checking for a 304)"


@pytest.fixture
def archive(db):
    database = open_archive(db)
    claim_heartbeat(database, pid=42, hostname="h", config_path=None, beat_seconds=15, now=T0)
    yield database
    database.close()


@pytest.fixture
def topic_id(archive):
    return register_topics(archive, [("nato", URL, "every 30m")], T0)[URL]


def text(archive, seconds: float) -> str:
    now = T0 + timedelta(seconds=seconds)
    beat(archive, 42, now)  # the daemon lives on
    status = read_status(archive, now, hostname="h", is_alive=lambda pid: True)
    return "\n".join(format_status(status, now))


def stuck(archive, topic_id, seconds: float, first: bool, error: str = STUCK) -> bool:
    now = T0 + timedelta(seconds=seconds)
    return record_stuck(
        archive, topic_id, "nato", error=error, now=now, hooks=("webhook",), first=first
    )


def test_a_stuck_job_alerts_at_once_and_shows_until_a_run_ends(archive, topic_id):
    assert stuck(archive, topic_id, 725, first=True)  # whatever the streak (0 < after)
    (alert,) = pending_alerts(archive)
    assert (alert.kind, alert.payload["consecutive_failures"]) == ("failing", 0)
    assert alert.payload["text"] == f"topicwatch: nato stuck: {STUCK}"
    assert f"  STUCK: {STUCK}" in text(archive, 726)
    later = STUCK.replace("12m05s", "12m20s")
    assert not stuck(archive, topic_id, 740, first=False, error=later)  # refreshed, no alert
    assert len(pending_alerts(archive)) == 1
    assert f"STUCK: {later}" in text(archive, 741)
    events = archive.execute("SELECT kind, topic FROM daemon_events").fetchall()
    assert events == [("stuck", "nato")]
    run_id = begin_run(archive, topic="nato", url=URL, trigger="schedule", started_at=T0, pid=7)
    end_run_without_changes(
        archive, run_id, status="failed", reason="timeout", error="killed after the 10m timeout",
        finished_at=T0 + timedelta(seconds=750),
    )  # fmt: skip
    record_outcome(
        archive, topic_id, ok=False, now=T0 + timedelta(seconds=750), alert_after=3,
        hooks=("webhook",), error="killed after the 10m timeout",
    )  # fmt: skip
    assert "STUCK" not in text(archive, 751)
    assert len(pending_alerts(archive)) == 1  # already alerting: no second "failing"


def test_a_topic_already_alerting_is_not_alerted_again_when_stuck(archive, topic_id):
    for minute in range(3):
        record_outcome(
            archive, topic_id, ok=False, now=T0 + timedelta(minutes=minute), alert_after=3,
            hooks=("webhook",), error="HTTP 500",
        )  # fmt: skip
    assert not stuck(archive, topic_id, 600, first=True)
    assert len(pending_alerts(archive)) == 1


def test_a_stuck_report_of_an_earlier_daemon_is_not_shown(archive, topic_id):
    stuck(archive, topic_id, 60, first=True)
    restart = T0 + timedelta(seconds=120)  # the same pid, as after a reboot
    claim_heartbeat(archive, pid=42, hostname="h", config_path=None, beat_seconds=15, now=restart)
    assert "STUCK" not in text(archive, 121)


def test_a_running_crawl_says_for_how_long(archive, topic_id):
    begin_run(archive, topic="nato", url=URL, trigger="schedule", started_at=T0, pid=4242)
    assert "  crawling now: run 1 (pid 4242), running for 12m05s" in text(archive, 725)


@pytest.mark.parametrize(
    ("marks", "note"),
    [
        ([], " (alert pending)"),
        ([("pending", "webhook http://h/…: answered HTTP 302 (redirects are not followed)")],
         " (alert pending: webhook http://h/…: answered HTTP 302 (redirects are not followed))"),
        ([("pending", "x")] * 5, " (alert NOT delivered after 5 attempts: x)"),
        ([("sent", None)], " (alert sent)"),
    ],
)  # fmt: skip
def test_an_alert_reads_sent_only_once_delivered(archive, topic_id, marks, note):
    for minute in range(3):
        record_outcome(
            archive, topic_id, ok=False, now=T0 + timedelta(minutes=minute), alert_after=3,
            hooks=("webhook",), error="HTTP 500",
        )  # fmt: skip
    (alert,) = pending_alerts(archive)
    for state, error in marks:
        mark_alert(archive, alert.id, state=state, now=T0, error=error)
    assert f"  consecutive failures: 3{note}" in text(archive, 300)


def test_alerting_without_any_hook_says_so(archive, topic_id):
    for minute in range(3):
        record_outcome(
            archive, topic_id, ok=False, now=T0 + timedelta(minutes=minute), alert_after=3,
            hooks=(), error="HTTP 500",
        )  # fmt: skip
    assert "consecutive failures: 3 (alerting; no hook configured)" in text(archive, 300)
