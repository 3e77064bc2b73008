"""The daemon's warm crawl workers as last reported: written at each heartbeat, read by
``topicwatch status`` (from any shell, while the daemon runs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from topicwatch.archive.db import write_transaction
from topicwatch.archive.timestamps import iso


@dataclass(frozen=True)
class WorkerState:
    """One worker: its pid, start, runs finished, the topics it is crawling now, and its
    resident memory in MiB (None where it could not be read)."""

    pid: int
    started_at: str
    runs_done: int
    topics: tuple[str, ...]
    draining: bool
    rss_mb: float | None = None


def set_workers(db: sqlite_utils.Database, workers: list[WorkerState], now: datetime) -> None:
    """Replace the recorded workers with ``workers`` (none: the daemon stopped)."""
    with write_transaction(db):
        db.execute("DELETE FROM daemon_workers")
        db.conn.executemany(
            "INSERT INTO daemon_workers (pid, started_at, runs_done, topics, draining,"
            " rss_mb, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [_row(w, now) for w in workers],
        )


def read_workers(db: sqlite_utils.Database) -> list[WorkerState]:
    """The recorded workers, by pid."""
    rows = db.execute(
        "SELECT pid, started_at, runs_done, topics, draining, rss_mb FROM daemon_workers"
        " ORDER BY pid"
    ).fetchall()
    return [
        WorkerState(pid, started, runs, tuple(json.loads(topics or "[]")), bool(draining), rss)
        for pid, started, runs, topics, draining, rss in rows
    ]


def _row(w: WorkerState, now: datetime) -> tuple[object, ...]:
    return (w.pid, w.started_at, w.runs_done, _names(w.topics), int(w.draining), w.rss_mb, iso(now))


def _names(topics: tuple[str, ...]) -> str:
    return json.dumps(list(topics), ensure_ascii=False)
