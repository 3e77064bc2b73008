"""The lifecycle of a crawl run's row: begin, fail, abort, and recovery of stale rows.

A run is on record from its first moment (status ``running``) so that a crash leaves a
trace; only :func:`archive.store.commit_run` turns it into ``ok`` with item changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from topicwatch.archive.db import write_transaction
from topicwatch.archive.timestamps import iso
from topicwatch.archive.urls import topic_name_for as topic_name_for  # re-exported

TRIGGERS = ("manual", "schedule")


def ensure_topic(db: sqlite_utils.Database, name: str, url: str, now: datetime) -> int:
    """Return the id of the topic at ``url``, creating it on first use.

    The URL is the identity; the name is the operator's label and follows the latest
    config. A retired topic that is crawled again is active again. Names are unique, so a
    name another site's topic holds (both ``/tag/nato/``) gets the host appended:
    ``nato (example.jp)``.
    """
    row = db.execute("SELECT id, name, retired_at FROM topics WHERE url = ?", [url]).fetchone()
    if row is not None:
        if row[1] != name:
            db.execute(
                "UPDATE topics SET name = ? WHERE id = ?", [_free_name(db, name, url), row[0]]
            )
        if row[2] is not None:  # crawled again: in use, whatever was retired
            db.execute("UPDATE topics SET retired_at = NULL WHERE id = ?", [row[0]])
        return int(row[0])
    cursor = db.execute(
        "INSERT INTO topics (name, url, created_at) VALUES (?, ?, ?)",
        [_free_name(db, name, url), url, iso(now)],
    )
    return int(cursor.lastrowid or 0)


def _free_name(db: sqlite_utils.Database, name: str, url: str) -> str:
    candidates = [name, f"{name} ({urlsplit(url).netloc})"]
    candidates += [f"{name} ({urlsplit(url).netloc} {n})" for n in range(2, 100)]
    for candidate in candidates:
        holder = db.execute("SELECT url FROM topics WHERE name = ?", [candidate]).fetchone()
        if holder is None or holder[0] == url:
            return candidate
    raise ValueError(f"no free topic name for {url}")


def begin_run(
    db: sqlite_utils.Database,
    *,
    topic: str,
    url: str,
    trigger: str,
    started_at: datetime,
    pid: int,
) -> int:
    """Record a run as ``running`` and return its id."""
    with write_transaction(db):
        return _insert_running(db, topic, url, trigger, started_at, pid)


def record_unregistered_run(
    db: sqlite_utils.Database,
    *,
    topic: str,
    url: str,
    trigger: str,
    started_at: datetime,
    pid: int,
    status: str,
    reason: str,
    error: str,
    finished_at: datetime,
) -> int:
    """Record a run whose crawl process ended before it could register itself.

    A crawl registers its run once Scrapy has started, which takes a second or more on a
    loaded machine; a process killed by its timeout (or dead of a crash) before then
    would otherwise leave no trace, and every scheduled attempt must be on record.
    """
    with write_transaction(db):
        run_id = _insert_running(db, topic, url, trigger, started_at, pid)
        close_without_changes(db, run_id, status, reason, error, finished_at, 0)
    return run_id


def _insert_running(
    db: sqlite_utils.Database, topic: str, url: str, trigger: str, started_at: datetime, pid: int
) -> int:
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {TRIGGERS}, not {trigger!r}")
    topic_id = ensure_topic(db, topic, url, started_at)
    topic = str(db.execute("SELECT name FROM topics WHERE id = ?", [topic_id]).fetchone()[0])
    cursor = db.execute(
        "INSERT INTO crawl_runs (topic, topic_id, url, trigger, started_at, status, pid)"
        " VALUES (?, ?, ?, ?, ?, 'running', ?)",
        [topic, topic_id, url, trigger, iso(started_at), pid],
    )
    return int(cursor.lastrowid or 0)


def end_run_without_changes(
    db: sqlite_utils.Database,
    run_id: int,
    *,
    status: str,
    reason: str,
    error: str,
    finished_at: datetime,
    pages: int = 0,
) -> None:
    """Close a run as ``failed`` or ``aborted``: its row only, never an item or a change."""
    with write_transaction(db):
        close_without_changes(db, run_id, status, reason, error, finished_at, pages)


def close_without_changes(
    db: sqlite_utils.Database,
    run_id: int,
    status: str,
    reason: str,
    error: str,
    finished_at: datetime,
    pages: int,
) -> None:
    """:func:`end_run_without_changes` inside the caller's transaction."""
    if status not in ("failed", "aborted"):
        raise ValueError(f"status must be failed or aborted, not {status!r}")
    db.execute(
        "UPDATE crawl_runs SET status = ?, reason = ?, error = ?, finished_at = ?,"
        " pages = ? WHERE id = ? AND status = 'running'",
        [status, reason, _one_line(error), iso(finished_at), pages, run_id],
    )


def recover_stale_runs(
    db: sqlite_utils.Database,
    now: datetime,
    *,
    is_alive: Callable[[int], bool],
    status: str = "aborted",
    reason: str = "crash",
    error: str = "the crawl process ended without recording its outcome",
    pids: set[int] | None = None,
) -> list[int]:
    """Close ``running`` rows whose process is gone (after a SIGKILL or power loss).

    With ``pids`` given, only those processes' rows are closed (the daemon's timeout path).
    """
    # A run dispatched to a Scrapyd node has no process here: the daemon reattaches to it.
    rows = db.execute(
        "SELECT id, pid FROM crawl_runs r WHERE status = 'running' AND NOT EXISTS"
        " (SELECT 1 FROM scrapyd_jobs j WHERE j.run_id = r.id AND j.state = 'dispatched')"
    ).fetchall()
    stale = [
        run_id
        for run_id, pid in rows
        if (pids is None and (pid is None or not is_alive(pid))) or (pids and pid in pids)
    ]
    for run_id in stale:
        end_run_without_changes(
            db, run_id, status=status, reason=reason, error=error, finished_at=now
        )
    return stale


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def run_counts(run: dict[str, Any]) -> str:
    """``2 pages, 40 seen, 3 new, 1 edited, 0 vanished`` (and filled, reappeared and the
    article pages when there are any): a run's outcome in the words every output uses —
    ``topicwatch crawl``, the daemon's log and ``topicwatch status``."""
    counts = [
        f"{run['pages']} pages",
        f"{run['items_seen']} seen",
        f"{run['items_new']} new",
        f"{run['items_edited']} edited",
        f"{run['items_vanished']} vanished",
    ]
    counts += [
        f"{run[key]} {label}"
        for key, label in (("items_filled", "filled"), ("items_reappeared", "reappeared"))
        if run.get(key)
    ]
    line = ", ".join(counts)
    if run.get("articles_fetched") or run.get("articles_pending"):
        line += (
            f"; {run.get('articles_fetched') or 0} article pages read,"
            f" {run.get('articles_pending') or 0} pending"
        )
    return line


def run_line(topic: str, status: str, run: dict[str, Any] | None, duration: float) -> str:
    """``nato: ok run 12: 2 pages, 40 seen, 3 new, 1 edited, 0 vanished in 1.4s``, with
    the run's reason and error when it has one; a topic without a run row (busy, killed
    before it began) gets its status and duration only."""
    if run is None:
        return f"{topic}: {status} in {duration:.1f}s"
    line = f"{topic}: {status} run {run['id']}: {run_counts(run)} in {duration:.1f}s"
    if run.get("gap_suspected") and run.get("reason") != "partial":
        line += " (gap suspected: page limit reached before known items)"
    if run.get("error"):
        line += f" ({run['reason']}: {run['error']})"
    return line
