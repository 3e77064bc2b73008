"""The daemon's state in the archive: heartbeat, schedule, failure streaks, alert outbox.

It lives in the archive rather than in the daemon's memory so that ``topicwatch status``
(another process) can read it, and so that a restarted daemon knows each topic's failure
streak and which alerts it already queued: an alert is queued in the same transaction
that flips a topic's ``alerting`` flag, so a transition produces exactly one alert per
hook however often the daemon restarts. Delivery is at-least-once (a crash between
sending and recording can resend); everything else here is exactly-once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from topicwatch.archive.db import write_transaction
from topicwatch.archive.lock import file_lock, is_locked, lock_dir, lock_holder
from topicwatch.archive.runs import ensure_topic
from topicwatch.archive.timestamps import iso, parse_iso

ALERT_ATTEMPTS = 5
STALE_BEATS = 3  # a daemon is presumed dead after missing this many heartbeats
STALE_FLOOR = timedelta(seconds=30)  # ...but never sooner: a busy disk can delay a beat


class DaemonRunning(Exception):
    """Another daemon already schedules crawls into this archive."""


@dataclass(frozen=True)
class Heartbeat:
    """The last daemon that ran on this archive, as it recorded itself."""

    pid: int
    hostname: str
    config_path: str | None
    started_at: datetime
    last_beat_at: datetime
    beat_seconds: float
    stopped_at: datetime | None


@dataclass(frozen=True)
class PendingAlert:
    """One alert waiting in the outbox for one hook."""

    id: int
    hook: str
    kind: str
    payload: dict[str, Any]
    attempts: int


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (signal 0 only checks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def daemon_lock(archive_path: str | os.PathLike[str]) -> AbstractContextManager[None]:
    """Hold the archive's daemon lock: two schedulers on one archive would double every run."""

    def busy(holder: str) -> Exception:
        return DaemonRunning(
            f"another topicwatch daemon (pid {holder}) is running on {archive_path}"
        )

    return file_lock(lock_dir(archive_path) / "daemon.lock", busy)


# --------------------------------------------------------------------------- heartbeat


def claim_heartbeat(
    db: sqlite_utils.Database,
    *,
    pid: int,
    hostname: str,
    config_path: str | None,
    beat_seconds: float,
    now: datetime,
) -> None:
    """Record this daemon as the archive's daemon (one row: the latest daemon wins)."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO daemon_heartbeat (id, pid, hostname, config_path, started_at,"
            " last_beat_at, beat_seconds, stopped_at) VALUES (1, ?, ?, ?, ?, ?, ?, NULL)"
            " ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, hostname = excluded.hostname,"
            " config_path = excluded.config_path, started_at = excluded.started_at,"
            " last_beat_at = excluded.last_beat_at, beat_seconds = excluded.beat_seconds,"
            " stopped_at = NULL",
            [pid, hostname, config_path, iso(now), iso(now), beat_seconds],
        )


def beat(db: sqlite_utils.Database, pid: int, now: datetime) -> None:
    """Refresh the heartbeat of the daemon ``pid``."""
    with write_transaction(db):
        db.execute("UPDATE daemon_heartbeat SET last_beat_at = ? WHERE pid = ?", [iso(now), pid])


def release_heartbeat(db: sqlite_utils.Database, pid: int, now: datetime) -> None:
    """Record a clean stop, so status says "stopped" rather than "presumed dead"."""
    with write_transaction(db):
        db.execute(
            "UPDATE daemon_heartbeat SET last_beat_at = ?, stopped_at = ? WHERE pid = ?",
            [iso(now), iso(now), pid],
        )


def read_heartbeat(db: sqlite_utils.Database) -> Heartbeat | None:
    """The heartbeat row, or None when no daemon ever ran on this archive."""
    row = db.execute(
        "SELECT pid, hostname, config_path, started_at, last_beat_at, beat_seconds, stopped_at"
        " FROM daemon_heartbeat WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    pid, hostname, config_path, started, last_beat, seconds, stopped = row
    return Heartbeat(
        pid,
        hostname,
        config_path,
        parse_iso(started),
        parse_iso(last_beat),
        seconds,
        parse_iso(stopped) if stopped else None,
    )


def daemon_alive(
    heartbeat: Heartbeat | None,
    now: datetime,
    *,
    hostname: str,
    is_alive: Callable[[int], bool],
) -> bool:
    """Fresh heartbeat, no recorded stop, and (on the same host) the process exists."""
    if heartbeat is None or heartbeat.stopped_at is not None:
        return False
    stale_after = max(timedelta(seconds=STALE_BEATS * heartbeat.beat_seconds), STALE_FLOOR)
    if now - heartbeat.last_beat_at > stale_after:
        return False
    return heartbeat.hostname != hostname or is_alive(heartbeat.pid)


# --------------------------------------------------------------------------- topics


def register_topics(
    db: sqlite_utils.Database, topics: Sequence[tuple[str, str, str]], now: datetime
) -> dict[str, int]:
    """Make the configured (name, url, schedule) topics the daemon's; return url → topic id.

    Topics no longer configured lose their schedule row (their runs stay on record);
    failure streaks of the ones that remain survive the restart.
    """
    with write_transaction(db):
        ids = {url: ensure_topic(db, name, url, now) for name, url, _ in topics}
        marks = ",".join("?" * len(ids))
        db.execute(f"DELETE FROM daemon_topics WHERE topic_id NOT IN ({marks})", list(ids.values()))
        db.conn.executemany(
            "INSERT INTO daemon_topics (topic_id, schedule, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (topic_id) DO UPDATE SET schedule = excluded.schedule,"
            " updated_at = excluded.updated_at",
            [(ids[url], schedule, iso(now)) for _, url, schedule in topics],
        )
    return ids


def last_ok_started(db: sqlite_utils.Database, topic_id: int) -> datetime | None:
    """When the topic's latest ok run started (any trigger), for catch-up at start.

    Latest by run sequence: after a clock was set back, the latest run may carry the
    earlier time, and the largest time would name a run that is not the last.
    """
    row = db.execute(
        "SELECT started_at FROM crawl_runs WHERE topic_id = ? AND status = 'ok'"
        " ORDER BY id DESC LIMIT 1",
        [topic_id],
    ).fetchone()
    return parse_iso(row[0]) if row and row[0] else None


def set_next_runs(
    db: sqlite_utils.Database, next_runs: Mapping[int, datetime | None], now: datetime
) -> None:
    """Publish when each topic runs next (for ``topicwatch status``)."""
    with write_transaction(db):
        db.conn.executemany(
            "UPDATE daemon_topics SET next_run_at = ?, updated_at = ? WHERE topic_id = ?",
            [(iso(at) if at else None, iso(now), topic_id) for topic_id, at in next_runs.items()],
        )


def set_waiting(
    db: sqlite_utils.Database, waiting: Mapping[int, datetime | None], now: datetime
) -> None:
    """Publish, per topic, the due time of its check still waiting for a crawl slot (None:
    none waits), so ``topicwatch status`` shows how late each topic is."""
    with write_transaction(db):
        db.conn.executemany(
            "UPDATE daemon_topics SET waiting_since = ?, updated_at = ? WHERE topic_id = ?",
            [(iso(at) if at else None, iso(now), topic_id) for topic_id, at in waiting.items()],
        )


def record_outcome(
    db: sqlite_utils.Database,
    topic_id: int,
    *,
    ok: bool,
    now: datetime,
    alert_after: int,
    hooks: Sequence[str],
    error: str | None = None,
    run_id: int | None = None,
) -> tuple[int, str | None]:
    """Update the topic's failure streak; queue an alert on a transition.

    Returns the consecutive failures and the transition (``failing``/``recovered``) or None.
    ``failing`` fires once when the streak reaches ``alert_after``; ``recovered`` fires on
    the first ok run after that, and only then.
    """
    with write_transaction(db):
        failures, alerting = db.execute(
            "SELECT consecutive_failures, alerting FROM daemon_topics WHERE topic_id = ?",
            [topic_id],
        ).fetchone()
        failures = 0 if ok else failures + 1
        transition = None
        if ok and alerting:
            transition, alerting = "recovered", 0
        elif not ok and not alerting and failures >= alert_after:
            transition, alerting = "failing", 1
        db.execute(
            "UPDATE daemon_topics SET consecutive_failures = ?, alerting = ?, last_error = ?,"
            " updated_at = ? WHERE topic_id = ?",
            [failures, alerting, None if ok else error, iso(now), topic_id],
        )
        if transition is not None:
            payload = _alert_payload(db, topic_id, transition, failures, error, run_id, now)
            db.conn.executemany(
                "INSERT INTO daemon_alerts (topic_id, kind, hook, created_at, payload)"
                " VALUES (?, ?, ?, ?, ?)",
                [(topic_id, transition, hook, iso(now), payload) for hook in hooks],
            )
    return failures, transition


def record_stuck(
    db: sqlite_utils.Database,
    topic_id: int,
    topic: str,
    *,
    error: str,
    now: datetime,
    hooks: Sequence[str],
    first: bool,
) -> bool:
    """A job of the topic has run past its timeout: say so in ``last_error`` (each beat).

    The ``first`` time, put it on record (event ``stuck``) and alert at once, whatever the
    streak: a stuck job never ends a run, so the topic would never reach ``after``
    failures. The topic turns ``alerting`` (its next ok run alerts ``recovered``) and a
    ``failing`` alert is queued, unless it already alerts. Returns whether one was queued.
    """
    with write_transaction(db):
        failures, alerting = db.execute(
            "SELECT consecutive_failures, alerting FROM daemon_topics WHERE topic_id = ?",
            [topic_id],
        ).fetchone()
        db.execute(
            "UPDATE daemon_topics SET last_error = ?, alerting = alerting OR ?, updated_at = ?"
            " WHERE topic_id = ?",
            [error, int(first), iso(now), topic_id],
        )
        if not first:
            return False
        db.execute(
            "INSERT INTO daemon_events (at, kind, topic, detail) VALUES (?, 'stuck', ?, ?)",
            [iso(now), topic, error],
        )
        if alerting:
            return False
        payload = _alert_payload(
            db, topic_id, "failing", failures, error, None, now, text=f"{topic} stuck: {error}"
        )
        db.conn.executemany(
            "INSERT INTO daemon_alerts (topic_id, kind, hook, created_at, payload)"
            " VALUES (?, 'failing', ?, ?, ?)",
            [(topic_id, hook, iso(now), payload) for hook in hooks],
        )
    return bool(hooks)


def _alert_payload(
    db: sqlite_utils.Database,
    topic_id: int,
    kind: str,
    failures: int,
    error: str | None,
    run_id: int | None,
    now: datetime,
    text: str | None = None,
) -> str:
    name, url = db.execute("SELECT name, url FROM topics WHERE id = ?", [topic_id]).fetchone()
    if text is not None:
        text = f"topicwatch: {text}"
    elif kind == "failing":
        text = f"topicwatch: {name} failing ({failures} consecutive failures): {error}"
    else:
        text = f"topicwatch: {name} recovered"
    payload = {
        "event": kind,
        "topic": name,
        "url": url,
        "consecutive_failures": failures,
        "error": error,
        "run_id": run_id,
        "at": iso(now),
        "text": text,  # what chat webhooks (Slack, Mattermost) display
    }
    return json.dumps(payload, ensure_ascii=False)


# --------------------------------------------------------------------------- alert outbox


def pending_alerts(db: sqlite_utils.Database) -> list[PendingAlert]:
    """Alerts not yet delivered, oldest first."""
    rows = db.execute(
        "SELECT id, hook, kind, payload, attempts FROM daemon_alerts WHERE state = 'pending'"
        " ORDER BY id"
    )
    return [PendingAlert(i, hook, kind, json.loads(p), n) for i, hook, kind, p, n in rows]


def mark_alert(
    db: sqlite_utils.Database,
    alert_id: int,
    *,
    state: str,
    now: datetime,
    error: str | None = None,
) -> None:
    """Record a delivery attempt: ``sent``, ``skipped``, or a failure (``pending`` until the
    attempts run out, then ``failed``)."""
    with write_transaction(db):
        db.execute(
            "UPDATE daemon_alerts SET attempts = attempts + 1, last_error = ?,"
            " sent_at = CASE WHEN ?2 = 'sent' THEN ?3 ELSE sent_at END,"
            " state = CASE WHEN ?2 != 'pending' THEN ?2"
            " WHEN attempts + 1 >= ?4 THEN 'failed' ELSE 'pending' END WHERE id = ?5",
            [error, state, iso(now), ALERT_ATTEMPTS, alert_id],
        )


# --------------------------------------------------------------------------- events, runs


def record_event(
    db: sqlite_utils.Database, now: datetime, kind: str, topic: str | None, detail: str = ""
) -> None:
    """Put a scheduler event (started, stopped, missed, error, timeout...) on record."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO daemon_events (at, kind, topic, detail) VALUES (?, ?, ?, ?)",
            [iso(now), kind, topic, " ".join(detail.split())[:500]],
        )


def prune(db: sqlite_utils.Database, before: datetime) -> None:
    """Forget events and settled alerts older than ``before``: months of uptime stay small."""
    with write_transaction(db):
        db.execute("DELETE FROM daemon_events WHERE at < ?", [iso(before)])
        db.execute(
            "DELETE FROM daemon_alerts WHERE state != 'pending' AND created_at < ?", [iso(before)]
        )


def live_crawl_pids(db: sqlite_utils.Database, archive_path: str | os.PathLike[str]) -> set[int]:
    """Pids of ``running`` rows whose process really is crawling: it holds the topic's lock.

    Stricter than "the pid exists": after a reboot a stale row's pid may belong to some
    unrelated process, but only a live crawl holds its topic's flock.
    """
    live = set()
    for pid, url in db.execute("SELECT pid, url FROM crawl_runs WHERE status = 'running'"):
        if pid is None or not pid_alive(pid) or not is_locked(archive_path, url):
            continue
        if lock_holder(archive_path, url) == str(pid):
            live.add(pid)
    return live


def latest_run_id(db: sqlite_utils.Database) -> int:
    """The id of the newest run row (0 for none): a child's run is one after it."""
    return int(db.execute("SELECT coalesce(max(id), 0) FROM crawl_runs").fetchone()[0])


def child_run(db: sqlite_utils.Database, pid: int, after_run: int) -> dict[str, Any] | None:
    """The run row a crawl child process ``pid`` registered after run ``after_run``, if any.

    By run sequence, not by time: a clock set back while the child started must not hide
    its row (and make the daemon record a second one).
    """
    rows = db.query(
        "SELECT * FROM crawl_runs WHERE pid = ? AND id > ? ORDER BY id DESC LIMIT 1",
        [pid, after_run],
    )
    return next(rows, None)


def worker_run(
    db: sqlite_utils.Database, pid: int, topic_id: int, after_run: int
) -> dict[str, Any] | None:
    """The run a warm crawl worker ``pid`` registered for topic ``topic_id`` after run
    ``after_run``, if any: a worker has several runs in flight, one per topic."""
    rows = db.query(
        "SELECT * FROM crawl_runs WHERE pid = ? AND topic_id = ? AND id > ?"
        " ORDER BY id DESC LIMIT 1",
        [pid, topic_id, after_run],
    )
    return next(rows, None)


def relabel_timeout(
    db: sqlite_utils.Database, pid: int, after_run: int, error: str, now: datetime
) -> int:
    """Turn the ``aborted``/``shutdown`` row of a child the daemon stopped for overrunning
    its timeout into ``failed``/``timeout``: the child only saw a SIGTERM."""
    with write_transaction(db):
        cursor = db.execute(
            "UPDATE crawl_runs SET status = 'failed', reason = 'timeout', error = ?,"
            " finished_at = coalesce(finished_at, ?) WHERE pid = ? AND id > ?"
            " AND status = 'aborted' AND reason = 'shutdown'",
            [error, iso(now), pid, after_run],
        )
    return cursor.rowcount
