"""Reproduction (not collected: no ``test_`` prefix) of lost archive writes with a warm
worker running two runs at once while one of them times out.

Run it a few times: ``.venv/bin/python -m pytest -p no:cacheprovider
tests/repro_pool_lost_writes.py``; about one run in four fails (row left ``running``,
a row the daemon committed gone, "disk I/O error" or "database disk image is malformed").
Cause (checked by experiment): ``archive.identity.read_header`` opens and closes the
database file with Python's ``open()``; close() drops every POSIX lock the process holds on
the file, including the shared lock of SQLite connections still open in the same process
(SQLite's "How To Corrupt" §2.2). Another process's connection then closes believing it
is the last, checkpoints and deletes the WAL under the live connection. Measured: with
connection A open, a second process's insert+close kept ``a.db-wal``; after one
``open(db, "rb").read(100)`` in A's process, the same insert+close deleted it. A warm
worker opens the archive for each run and report while other runs' connections are open.
"""

from __future__ import annotations

from test_daemon_workers import (  # noqa: F401
    DEADLINE,
    NATO,
    Daemon,
    pool_config,
    runs,
    scheduled_ok,
    site,
    topics,
    wait_until,
)


def test_one_worker_two_topics_one_timing_out(site, db, tmp_path):  # noqa: F811
    entries = [*topics(site, "nato", timeout="3s"), *topics(site, "uk")]
    config = pool_config(tmp_path, db, entries, crawl_workers=1)
    site.hold(NATO)
    with Daemon(config) as daemon:
        wait_until(lambda: runs(db, "nato", "running"), DEADLINE, "nato in flight")
        wait_until(lambda: runs(db, "nato", "failed"), DEADLINE, "nato's timeout")
        site.release()
        assert daemon.stop(timeout=60) == 0, daemon.output
    assert "disk I/O error" not in daemon.output, daemon.output
    assert runs(db, status="running") == [], (runs(db), daemon.output)
