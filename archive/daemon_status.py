"""What ``topicwatch status`` reports: the daemon's liveness and each topic's state.

Read-only, from the archive alone, so it works from any shell while the daemon runs
(WAL lets it read during a crawl's write) and after the daemon has died.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from topicwatch.archive.daemon_state import Heartbeat, daemon_alive, read_heartbeat
from topicwatch.archive.daemon_workers import WorkerState, read_workers
from topicwatch.archive.scrapyd_jobs import NodeState, read_nodes
from topicwatch.archive.timestamps import iso, parse_iso

_RUN_FIELDS = (
    "id, trigger, status, reason, error, started_at, finished_at, pages,"
    " items_seen, items_new, items_edited, items_vanished"
)


@dataclass(frozen=True)
class TopicStatus:
    """One topic: its schedule (None when the daemon does not schedule it) and last run.

    ``running_run`` is the run in progress (id, pid, started_at), if one is on record;
    ``stuck`` says how long the daemon's job has overrun the topic's timeout while it
    does; ``alert`` is the delivery of the topic's latest alert (see :func:`_alert`).
    """

    name: str
    url: str
    schedule: str | None
    next_run_at: datetime | None
    consecutive_failures: int
    alerting: bool
    running: bool
    last_run: dict[str, Any] | None
    running_run: dict[str, Any] | None = None
    stuck: str | None = None
    alert: dict[str, Any] | None = None
    waiting_since: datetime | None = None  # due and not started: how late it is


@dataclass(frozen=True)
class Status:
    """The daemon's heartbeat (None if no daemon ever ran here), every topic, and the
    daemon's warm crawl workers while it runs (none without ``crawl_workers``)."""

    daemon: Heartbeat | None
    alive: bool
    topics: list[TopicStatus]
    workers: list[WorkerState] = field(default_factory=list)
    nodes: list[NodeState] = field(default_factory=list)  # Scrapyd nodes ([scrapyd])

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, times as ISO 8601 strings."""
        daemon = asdict(self.daemon) if self.daemon else None
        data: dict[str, Any] = _jsonable(
            {
                "daemon": daemon,
                "alive": self.alive,
                "topics": [asdict(t) for t in self.topics],
                "workers": [asdict(w) for w in self.workers],
                "nodes": [asdict(n) for n in self.nodes],
            }
        )
        return data


def read_status(
    db: sqlite_utils.Database,
    now: datetime,
    *,
    hostname: str,
    is_alive: Callable[[int], bool],
) -> Status:
    """The daemon's liveness (see :func:`archive.daemon_state.daemon_alive`) and all topics."""
    heartbeat = read_heartbeat(db)
    alive = daemon_alive(heartbeat, now, hostname=hostname, is_alive=is_alive)
    rows = db.execute(
        "SELECT t.id, t.name, t.url, d.schedule, d.next_run_at,"
        " coalesce(d.consecutive_failures, 0), coalesce(d.alerting, 0), d.last_error,"
        " d.waiting_since"
        " FROM topics t LEFT JOIN daemon_topics d ON d.topic_id = t.id"
        " WHERE t.retired_at IS NULL ORDER BY t.name"
    ).fetchall()
    topics = []
    for topic_id, name, url, schedule, next_run, failures, alerting, last_error, waiting in rows:
        last_run = _last_run(db, topic_id)
        running_run = _running_run(db, topic_id)
        stuck = None
        if alive and heartbeat is not None and _stuck_since_start(db, name, heartbeat, last_run):
            stuck = last_error
        topics.append(
            TopicStatus(
                name=name,
                url=url,
                schedule=schedule,
                next_run_at=parse_iso(next_run) if next_run and alive else None,
                consecutive_failures=failures,
                alerting=bool(alerting),
                running=running_run is not None,
                last_run=last_run,
                running_run=running_run,
                stuck=stuck,
                alert=_alert(db, topic_id),
                waiting_since=parse_iso(waiting) if waiting and alive else None,
            )
        )
    return Status(
        heartbeat, alive, topics, read_workers(db) if alive else [], read_nodes(db) if alive else []
    )


def _running_run(db: sqlite_utils.Database, topic_id: int) -> dict[str, Any] | None:
    cursor = db.execute(
        "SELECT id, pid, started_at FROM crawl_runs WHERE topic_id = ? AND status = 'running'"
        " ORDER BY id DESC LIMIT 1",
        [topic_id],
    )
    row = cursor.fetchone()
    return None if row is None else dict(zip(("id", "pid", "started_at"), row, strict=True))


def _stuck_since_start(
    db: sqlite_utils.Database, name: str, heartbeat: Heartbeat, last_run: dict[str, Any] | None
) -> bool:
    """Whether this daemon reported the topic stuck (event ``stuck``, see
    :func:`archive.daemon_state.record_stuck`) and no run of it has ended since."""
    (at,) = db.execute(
        "SELECT max(at) FROM daemon_events WHERE kind = 'stuck' AND topic = ?", [name]
    ).fetchone()
    if at is None or parse_iso(at) < heartbeat.started_at:
        return False
    ended = last_run["finished_at"] if last_run else None
    return ended is None or parse_iso(ended) < parse_iso(at)


def _alert(db: sqlite_utils.Database, topic_id: int) -> dict[str, Any] | None:
    """The topic's latest alert (one row per hook): its kind, and ``state`` ``sent`` only
    when every hook took it, else ``pending``, ``failed`` (attempts ran out) or
    ``skipped``, with the last delivery error."""
    rows = db.execute(
        "SELECT a.kind, a.state, a.last_error, a.attempts FROM daemon_alerts a"
        " JOIN (SELECT kind, created_at FROM daemon_alerts WHERE topic_id = ?1"
        " ORDER BY id DESC LIMIT 1) latest USING (kind, created_at)"
        " WHERE a.topic_id = ?1 ORDER BY a.id",
        [topic_id],
    ).fetchall()
    if not rows:
        return None
    for state in ("failed", "pending", "skipped"):
        unsent = [row for row in rows if row[1] == state]
        if unsent:
            kind, _, error, attempts = unsent[0]
            return {"kind": kind, "state": state, "error": error, "attempts": attempts}
    return {"kind": rows[0][0], "state": "sent", "error": None, "attempts": rows[0][3]}


def _last_run(db: sqlite_utils.Database, topic_id: int) -> dict[str, Any] | None:
    rows = db.query(
        f"SELECT {_RUN_FIELDS} FROM crawl_runs WHERE topic_id = ? AND status != 'running'"
        " ORDER BY id DESC LIMIT 1",
        [topic_id],
    )
    run = next(rows, None)
    if run is None:
        return None
    if run["finished_at"]:
        elapsed = parse_iso(run["finished_at"]) - parse_iso(run["started_at"])
        run["duration"] = elapsed.total_seconds()
    else:
        run["duration"] = None
    return run


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value
