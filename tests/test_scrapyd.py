"""Scale-out: runs dispatched to real Scrapyd nodes on loopback (issue 16).

The session's two nodes (tests/scrapyd_nodes.py) run the deployed egg; the daemon's side
(topicwatch.daemon.scrapyd) dispatches, follows, fetches the feed and commits it here.
Tests that kill or restart a node use nodes of their own.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import rows, run_crawl, scalar
from daemon_helpers import FAST, GatedSite, query, wait_until
from fault_site import FaultSite
from fixture_site import load_seed_articles, make_articles
from scrapyd_nodes import Node

from topicwatch import __version__
from topicwatch.archive import open_archive
from topicwatch.archive.run_feed import FeedError, end_record, read_feed
from topicwatch.archive.runs import begin_run
from topicwatch.archive.scrapyd_jobs import add_job
from topicwatch.archive.shipped_memory import MemoryTooLarge, encode
from topicwatch.archive.store import RunReport
from topicwatch.daemon.cluster_config import NodeConfig, ScrapydConfig
from topicwatch.daemon.config import TopicConfig
from topicwatch.daemon.scrapyd import Cluster, Dispatched, RunLocally

SEED = load_seed_articles()
# What legitimately differs between a local and a dispatched run of the same pages: times,
# the process (tables.columns), and the tables that only the scale-out writes.
SKIP_TABLES = ("scrapyd_jobs", "scrapyd_nodes", "daemon_", "sqlite_", "search_")


def cluster(nodes: list[Node], db: Path, **options: Any) -> Cluster:
    settings = {"nodes": tuple(NodeConfig(n.url, 2) for n in nodes), "poll": 0.2, **options}
    return Cluster(ScrapydConfig(**settings), db, dict(FAST), threading.Event())


def topic(url: str, timeout: float = 90.0) -> TopicConfig:
    return TopicConfig(name="nato", url=url, timeout=timeout, executor="scrapyd")


def dispatch(on: Cluster, url: str, timeout: float = 90.0) -> Dispatched:
    from datetime import UTC, datetime

    result = on.crawl(topic(url, timeout), datetime.now(UTC), time.monotonic() + timeout)
    assert result is not None
    return result


def uk_then_nato(site: FaultSite) -> list[TopicConfig]:
    """Two topics of the fault site, one batch's worth."""
    return [
        TopicConfig(name="uk", url=site.topic_url("uk"), timeout=90.0, executor="scrapyd"),
        TopicConfig(name="nato", url=site.topic_url(), timeout=90.0, executor="scrapyd"),
    ]


def batch_in_thread(on: Cluster, topics: list[TopicConfig]) -> tuple[threading.Thread, list[Any]]:
    """The batch dispatched from a thread of its own, as the daemon's job threads do; its
    results land in the list once it returns."""
    from datetime import UTC, datetime

    done: list[Any] = []
    batch = threading.Thread(
        target=lambda: done.append(
            on.crawl_batch(topics, datetime.now(UTC), time.monotonic() + 90.0)
        ),
        daemon=True,
    )
    batch.start()
    return batch, done


def tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, without the columns that legitimately differ. Article pages are
    fetched in an order that timing decides, so snapshots are named by their hash."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith(SKIP_TABLES)
        ]
        dumped = {}
        for name in names:
            columns = [
                _comparable(column)
                for _, column, *_ in conn.execute(f"PRAGMA table_info({name})")
                if column != "pid" and not (name in ("snapshots", "fetches") and column == "id")
            ]
            select = ", ".join(columns)
            dumped[name] = sorted(conn.execute(f"SELECT {select} FROM {name}").fetchall(), key=repr)
        return dumped
    finally:
        conn.close()


def _comparable(column: str) -> str:
    """A column as compared: a time only as set or not (published_at is data)."""
    if column == "snapshot_id":
        return "(SELECT sha256 FROM snapshots s WHERE s.id = snapshot_id)"
    if (column == "at" or column.endswith("_at")) and column != "published_at":
        return f"{column} IS NULL"
    return column


def test_a_dispatched_run_commits_exactly_what_a_local_crawl_commits(scrapyd_nodes, site, tmp_path):
    local, remote = tmp_path / "local.db", tmp_path / "remote.db"
    nodes = cluster(scrapyd_nodes, remote)
    url = site.topic_url()

    def both() -> tuple[dict[str, Any], dict[str, Any]]:
        here = run_crawl(url, local, "--topic", "nato", "--trigger", "schedule").run
        there = dispatch(nodes, url)
        assert there.status == here["status"], there.error
        return here, there.run or {}

    steps = []
    steps.append(both())  # first crawl: everything new, article pages read
    steps.append(both())  # unchanged: 304
    site.edit_article(SEED[2].slug, summary=SEED[2].summary + "(更新)")
    site.add_articles(make_articles(2, start=1))
    steps.append(both())  # an edit and two new items
    site.remove_article(SEED[5].slug)
    steps.append(both())  # a retraction
    counts = ("status", "items_new", "items_edited", "items_vanished", "pages_not_modified")
    for here, there in steps:
        assert [here[c] for c in counts] == [there[c] for c in counts]
    assert [s[1]["items_new"] for s in steps] == [20, 0, 2, 0]
    assert [s[1]["items_vanished"] for s in steps][-1] == 1
    a, b = tables(local), tables(remote)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name
    assert scalar(remote, "select count(*) from scrapyd_jobs where state = 'committed'") == 4


def test_a_node_never_writes_sqlite_and_its_feed_ends_with_the_end_record(
    scrapyd_nodes, site, tmp_path
):
    db = tmp_path / "archive.db"
    result = dispatch(cluster(scrapyd_nodes[:1], db), site.topic_url())
    assert result.status == "ok", result.error
    job = scalar(db, "select job from scrapyd_jobs")
    home = scrapyd_nodes[0].home
    # Scrapyd's own queue is dbs/topicwatch.db; no archive anywhere else.
    assert [p for p in home.rglob("topicwatch.db*") if p.parent.name != "dbs"] == []
    feed = (home / "items" / "topicwatch" / "topic" / f"{job}.jl").read_bytes().splitlines()
    records = [json.loads(line) for line in feed]
    assert {r["job"] for r in records} == {job}
    assert [r["type"] for r in records][-1] == "end"
    end = records[-1]
    assert (end["status"], end["version"], end["pages"], end["items"]) == ("ok", __version__, 1, 20)
    log = next((home / "logs").rglob(f"{job}.log")).read_text()
    assert "is not JSON serializable" not in log
    # The egg reports topicwatch's own version, in the end record and the User-Agent.
    agents = {r.headers.get("User-Agent") for r in site.requests}
    assert agents == {f"topicwatch/{__version__} (+https://github.com/topicwatch/topicwatch)"}


def test_a_crawl_killed_on_its_node_is_a_failed_run_without_changes(scrapyd_nodes, tmp_path):
    db = tmp_path / "archive.db"
    with GatedSite() as site:
        site.gate.clear()  # holds the crawl's requests until it is killed
        on = cluster(scrapyd_nodes[1:], db)
        done: list[Dispatched] = []
        worker = threading.Thread(target=lambda: done.append(dispatch(on, site.topic_url())))
        worker.start()
        pid = wait_until(lambda: next(iter(scrapyd_nodes[1].crawl_pids()), 0), 60, "the crawl")
        os.kill(pid, signal.SIGKILL)
        worker.join(60)
    assert done and done[0].status == "failed"
    assert done[0].run is not None and done[0].run["reason"] == "crash"
    assert "end record" in (done[0].error or "")
    assert scalar(db, "select count(*) from items") == 0


def end_line(job: str, run: int) -> bytes:
    report = RunReport(pages=())
    record = end_record(job, run, outcome=("ok", "", ""), report=report, fetch_order=[],
                        version=__version__)  # fmt: skip
    return json.dumps(record).encode()


def test_a_stale_feed_under_a_reused_job_id_is_refused():
    # Scrapy appends to an existing feed file: an earlier job's records come first.
    with pytest.raises(FeedError, match="job 'tw-1-old'"):
        read_feed([end_line("tw-1-old", 1), end_line("tw-1-new", 1)], "tw-1-new", [1])
    with pytest.raises(FeedError, match="follows the end record"):
        read_feed([end_line("tw-1-a", 1), end_line("tw-1-a", 1)], "tw-1-a", [1])
    with pytest.raises(FeedError, match="run 2"):
        read_feed([end_line("tw-1-a", 2)], "tw-1-a", [1])
    assert read_feed([], "tw-1-a", [1]) == {}  # no end record: the run failed
    assert read_feed([end_line("tw-1-a", 1)], "tw-1-a", [1])[1].status == "ok"


def test_a_reused_job_id_s_feed_is_refused_not_committed(scrapyd_nodes, site, tmp_path):
    """Scrapy appends to an existing feed: a job id used twice mixes two jobs' records."""
    from datetime import UTC, datetime

    db = tmp_path / "archive.db"
    on = cluster(scrapyd_nodes[:1], db)
    client, job = on.nodes[0].client, f"tw-reused-{os.getpid()}"
    settings = {"TOPICWATCH_OUTPUT": "feed", **FAST}
    client.schedule("topicwatch", "topic", job, version="", args={"url": site.topic_url()},
                    settings=settings)  # fmt: skip
    wait_until(lambda: client.state("topicwatch", job) == "finished", 60, "the first job")
    now = datetime.now(UTC)
    with open_archive(db) as archive:
        run = begin_run(archive, topic="nato", url=site.topic_url(), trigger="schedule",
                        started_at=now, pid=os.getpid())  # fmt: skip
        add_job(archive, job, [run], client.url, "127.0.0.1", now)
    order = {"order": run, "url": site.topic_url(), "topic": "nato", "memory": {}}
    client.schedule("topicwatch", "topic", job, version="", settings=settings,
                    args={"batch": encode([order], 100_000)})  # fmt: skip
    on.start()  # follows the job on record, as a restarted daemon does
    try:
        wait_until(lambda: scalar(db, "select status from crawl_runs") != "running", 60, "run")
    finally:
        on.stop.set()
        on.close()
    status, reason, error = rows(db, "select status, reason, error from crawl_runs")[0]
    assert (status, reason) == ("failed", "feed")
    assert "is for run 0, not one of this job's" in error
    assert scalar(db, "select count(*) from items") == 0


def test_a_memory_over_the_limit_is_refused_and_the_topic_runs_locally(scrapyd_nodes, tmp_path):
    with pytest.raises(MemoryTooLarge, match="KiB"):
        encode({"known": [f"https://example.jp/{n:08x}" for n in range(100_000)]}, 64 * 1024)
    db = tmp_path / "archive.db"
    with open_archive(db) as archive:
        archive.execute(
            "INSERT INTO topics (name, url, created_at) VALUES ('nato', 'http://127.0.0.1:9/', 'x')"
        )
    on = cluster(scrapyd_nodes, db, max_memory=10)
    with pytest.raises(RunLocally):
        dispatch(on, "http://127.0.0.1:9/")
    assert scalar(db, "select count(*) from crawl_runs") == 0


def test_a_batch_of_one_site_s_topics_is_one_job_and_a_run_each(scrapyd_nodes, site, tmp_path):
    from datetime import UTC, datetime

    site.set_listing("uk", make_articles(5, start=100))
    db = tmp_path / "archive.db"
    topics = [
        TopicConfig(name="nato", url=site.topic_url(), timeout=90.0, executor="scrapyd"),
        TopicConfig(name="uk", url=site.topic_url("uk"), timeout=90.0, executor="scrapyd"),
    ]
    results = cluster(scrapyd_nodes, db).crawl_batch(topics, datetime.now(UTC),
                                                      time.monotonic() + 90.0)  # fmt: skip
    assert results is not None
    assert [(r.status, r.run and r.run["topic"]) for r in results] == [("ok", "nato"), ("ok", "uk")]
    assert [r.run and r.run["items_new"] for r in results] == [20, 5]
    jobs = rows(db, "select job, run_id, state from scrapyd_jobs order by run_id")
    assert len({job for job, _, _ in jobs}) == 1
    assert [(run, state) for _, run, state in jobs] == [(1, "committed"), (2, "committed")]


def test_each_run_of_a_batch_is_committed_once_its_end_record_is_in_the_feed(
    scrapyd_nodes, tmp_path
):
    """A batch job's runs are committed as the feed shows each end record, not when the
    job ends: uk is on record while nato's listing, held by the site, keeps the job on."""

    listing = "/articles/tag/nato/"
    db = tmp_path / "archive.db"
    with FaultSite() as site:
        site.set_listing("uk", make_articles(5, start=100))
        site.hold(listing)
        topics = uk_then_nato(site)
        config = ScrapydConfig(nodes=tuple(NodeConfig(n.url, 2) for n in scrapyd_nodes), poll=0.2)
        # The held request must outlast the wait below, whatever the machine's load.
        settings = {**FAST, "DOWNLOAD_TIMEOUT": "120", "TOPICWATCH_ENRICH": "False"}
        on = Cluster(config, db, settings, threading.Event())
        batch, done = batch_in_thread(on, topics)
        ok = "select topic from crawl_runs where status = 'ok'"
        wait_until(lambda: query(db, ok), 60, "uk's run committed")
        assert rows(db, "select topic, status from crawl_runs order by id") == [
            ("uk", "ok"),
            ("nato", "running"),  # its listing unanswered: the job runs on
        ]
        assert rows(db, "select state from scrapyd_jobs order by run_id") == [
            ("committed",),
            ("dispatched",),
        ]
        site.release(listing)
        batch.join(120)
    assert done and done[0] is not None
    assert [(r.status, r.run and r.run["items_new"]) for r in done[0]] == [("ok", 5), ("ok", 20)]
    assert rows(db, "select state from scrapyd_jobs") == [("committed",), ("committed",)]
    assert scalar(db, "select count(*) from changes where kind = 'new'") == 25  # each once


def test_a_batch_reattached_after_a_run_was_committed_commits_the_rest_once(
    scrapyd_nodes, tmp_path
):
    """A daemon stopped between a batch's runs: the next one follows the job for the run
    still dispatched, reads the feed holding both runs' records, and commits that run
    only (the one committed before the restart is neither refused nor reported again)."""

    listing = "/articles/tag/nato/"
    db = tmp_path / "archive.db"
    config = ScrapydConfig(nodes=tuple(NodeConfig(n.url, 2) for n in scrapyd_nodes), poll=0.2)
    settings = {**FAST, "DOWNLOAD_TIMEOUT": "120", "TOPICWATCH_ENRICH": "False"}
    with FaultSite() as site:
        site.set_listing("uk", make_articles(5, start=100))
        site.hold(listing)
        topics = uk_then_nato(site)
        first = Cluster(config, db, settings, threading.Event())
        batch, done = batch_in_thread(first, topics)
        ok = "select topic from crawl_runs where status = 'ok'"
        wait_until(lambda: query(db, ok), 60, "uk's run committed")
        first.stop.set()  # the daemon stops: the job runs on, on record for the next one
        batch.join(60)
        assert done == [None]
        reported: list[tuple[str, str]] = []

        def reattached(url: str, sent: Dispatched) -> None:
            reported.append((url, sent.status))

        second = Cluster(config, db, settings, threading.Event(), reattached=reattached)
        second.start()
        try:
            site.release(listing)
            wait_until(lambda: reported, 60, "the reattached run")
        finally:
            second.stop.set()
            second.close()
    assert reported == [(topics[1].url, "ok")]
    assert rows(db, "select topic, status from crawl_runs order by id") == [
        ("uk", "ok"),
        ("nato", "ok"),
    ]
    assert rows(db, "select state from scrapyd_jobs") == [("committed",), ("committed",)]
    assert scalar(db, "select count(*) from changes where kind = 'new'") == 25  # each once


def test_a_node_with_topicwatch_installed_needs_no_egg(site, tmp_path):
    node = Node(tmp_path / "installed", installed=True).start()
    try:
        db = tmp_path / "archive.db"
        config = ScrapydConfig(nodes=(NodeConfig(node.url, 1),), poll=0.2, version="")
        result = dispatch(Cluster(config, db, dict(FAST), threading.Event()), site.topic_url())
        assert result.status == "ok", result.error
        assert result.run is not None and result.run["items_new"] == 20
        assert not (node.home / "eggs").exists()
    finally:
        node.kill()
