"""Runs dispatched to Scrapyd nodes, and the nodes as last seen: the daemon's record.

A dispatched run has no local process, so its ``crawl_runs`` row stays ``running`` while
its job does; ``scrapyd_jobs`` says which node and job carry it, so a restarted daemon
reattaches to the job instead of marking the run aborted (archive.runs skips such runs),
and abandoned jobs (a node unreachable past the grace) are cancelled when it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from topicwatch.archive.db import write_transaction
from topicwatch.archive.timestamps import iso

STATES = ("dispatched", "committed", "failed", "abandoned", "cancelled", "refused")


@dataclass(frozen=True)
class Job:
    """One run of a job: the job's id, the run, its node, site and state."""

    job: str
    run_id: int
    node: str
    site: str
    state: str


@dataclass(frozen=True)
class NodeState:
    """A node as the daemon last saw it."""

    url: str
    reachable: bool
    running: int
    pending: int
    last_error: str | None
    checked_at: str


def add_job(
    db: sqlite_utils.Database,
    job: str,
    run_ids: Sequence[int],
    node: str,
    site: str,
    now: datetime,
) -> None:
    """Record a job (one row per run it carries) as dispatched, before it is sent: a
    crash then leaves it findable."""
    with write_transaction(db):
        db.conn.executemany(
            "INSERT INTO scrapyd_jobs (job, run_id, node, site, state, dispatched_at,"
            " updated_at) VALUES (?, ?, ?, ?, 'dispatched', ?, ?)",
            [(job, run_id, node, site, iso(now), iso(now)) for run_id in run_ids],
        )


def set_job_state(
    db: sqlite_utils.Database,
    job: str,
    state: str,
    now: datetime,
    error: str | None = None,
    *,
    run_id: int | None = None,
) -> None:
    """Set the state of the job's rows (of one run's only, with ``run_id``)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, not {state!r}")
    with write_transaction(db):
        db.execute(
            "UPDATE scrapyd_jobs SET state = ?, updated_at = ?, error = ? WHERE job = ?"
            " AND (? IS NULL OR run_id = ?)",
            [state, iso(now), error, job, run_id, run_id],
        )


def jobs_in(db: sqlite_utils.Database, state: str) -> list[Job]:
    """The jobs in ``state``, oldest first."""
    return [
        Job(*row)
        for row in db.execute(
            "SELECT job, run_id, node, site, state FROM scrapyd_jobs WHERE state = ?"
            " ORDER BY dispatched_at, job",
            [state],
        )
    ]


def runs_of(db: sqlite_utils.Database, job: str) -> list[int]:
    """Every run the job carries (its feed may hold records of each), in run order."""
    return [
        int(run)
        for (run,) in db.execute(
            "SELECT run_id FROM scrapyd_jobs WHERE job = ? ORDER BY run_id", [job]
        )
    ]


def job_in_flight(db: sqlite_utils.Database, topic_url: str) -> str | None:
    """The dispatched job still carrying a run of the topic at ``topic_url``, if any."""
    row = db.execute(
        "SELECT j.job FROM scrapyd_jobs j JOIN crawl_runs r ON r.id = j.run_id"
        " WHERE j.state = 'dispatched' AND r.url = ? LIMIT 1",
        [topic_url],
    ).fetchone()
    return None if row is None else str(row[0])


def set_nodes(db: sqlite_utils.Database, nodes: list[NodeState]) -> None:
    """Replace the recorded nodes with ``nodes``."""
    with write_transaction(db):
        db.execute("DELETE FROM scrapyd_nodes")
        db.conn.executemany(
            "INSERT INTO scrapyd_nodes (url, reachable, running, pending, last_error,"
            " checked_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (n.url, int(n.reachable), n.running, n.pending, n.last_error, n.checked_at)
                for n in nodes
            ],
        )


def read_nodes(db: sqlite_utils.Database) -> list[NodeState]:
    """The recorded nodes, by URL (none: no [scrapyd] section, or never checked)."""
    if not db["scrapyd_nodes"].exists():  # an archive opened read-only before migration 16
        return []
    return [
        NodeState(url, bool(reachable), running, pending, error, checked)
        for url, reachable, running, pending, error, checked in db.execute(
            "SELECT url, reachable, running, pending, last_error, checked_at"
            " FROM scrapyd_nodes ORDER BY url"
        )
    ]
