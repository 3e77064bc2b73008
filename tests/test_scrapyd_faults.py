"""The scale-out kill matrix: nodes killed, nodes down and back, jobs abandoned and
cancelled, feeds deleted before they were fetched. Nothing is lost (every run ends on
record, and a topic's next attempt works) and nothing is committed twice.

Each test runs nodes of its own (tests/scrapyd_nodes.py), since it kills them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import scalar
from daemon_helpers import FAST, GatedSite, query, wait_until
from fault_site import FaultSite
from scrapyd_nodes import Node, running_nodes

from topicwatch.daemon.cluster_config import NodeConfig, ScrapydConfig
from topicwatch.daemon.config import TopicConfig
from topicwatch.daemon.scrapyd import Cluster, Dispatched

TIMEOUT = 90.0


@pytest.fixture
def gated() -> Iterator[GatedSite]:
    with GatedSite() as running:
        yield running


def make_cluster(nodes: list[Node], db: Path, **options: Any) -> Cluster:
    config = ScrapydConfig(
        nodes=tuple(NodeConfig(n.url, 2) for n in nodes), **{"poll": 0.2, **options}
    )
    return Cluster(config, db, dict(FAST), threading.Event())


def dispatch(on: Cluster, url: str, name: str = "nato") -> Dispatched:
    topic = TopicConfig(name=name, url=url, timeout=TIMEOUT, executor="scrapyd")
    result = on.crawl(topic, datetime.now(UTC), time.monotonic() + TIMEOUT)
    assert result is not None
    return result


def in_background(call: Any) -> tuple[threading.Thread, list[Any]]:
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(call()), daemon=True)
    thread.start()
    return thread, done


def committed_once(db: Path) -> None:
    """Every ok run's items were written once: one 'new' change per item."""
    assert scalar(db, "select count(*) from changes where kind = 'new'") == scalar(
        db, "select count(*) from items"
    )


def test_a_node_killed_mid_job_and_restarted_still_delivers_its_run(scrapyd_egg, gated, tmp_path):
    with running_nodes(tmp_path / "nodes", scrapyd_egg, count=1) as [node]:
        db = tmp_path / "archive.db"
        gated.gate.clear()
        thread, done = in_background(lambda: dispatch(make_cluster([node], db, node_grace=60.0),
                                                      gated.topic_url()))  # fmt: skip
        wait_until(node.crawl_pids, 60, "the node's crawl")
        node.kill()  # SIGKILL scrapyd: its crawl runs on, held by the site
        node.start()  # the same port, the same directories
        gated.gate.set()
        thread.join(TIMEOUT)
        assert done and done[0].status == "ok", done and done[0].error
    assert scalar(db, "select items_new from crawl_runs") == 20
    assert query(db, "select state from scrapyd_jobs") == [("committed",)]
    committed_once(db)


def test_a_job_cancelled_with_cancel_json_is_an_aborted_run(scrapyd_nodes, tmp_path):
    """cancel.json (SIGINT: Scrapy's graceful shutdown) cuts the crawl short: its feed ends
    the run with an aborted end record, so the run is aborted on record, as a local crawl
    stopped by a signal is; not failed for a missing end record, as a killed crawl is."""
    listing = "/articles/tag/nato/"
    with FaultSite() as site:
        site.hold(listing)  # the crawl is in flight, its first page unanswered
        db = tmp_path / "archive.db"
        on = make_cluster(scrapyd_nodes, db)
        thread, done = in_background(lambda: dispatch(on, site.topic_url()))
        wait_until(lambda: site.arrivals(listing), 60, "the node's request for the listing")
        ((job, node),) = query(db, "select job, node from scrapyd_jobs")
        client = next(n.client for n in on.nodes if n.url == node)
        client.cancel("topicwatch", job)
        site.release(listing)  # the shutdown waits for the request in flight, then stops
        thread.join(TIMEOUT)
    assert done, "the dispatch did not return"
    assert done[0].status == "aborted", done[0].error
    run = done[0].run or {}
    assert (run["status"], run["reason"]) == ("aborted", "shutdown")
    assert scalar(db, "select count(*) from changes") == 0  # nothing committed from it
    assert query(db, "select state from scrapyd_jobs") == [("committed",)]


@pytest.mark.slow
def test_both_nodes_down_fail_the_run_at_once_and_the_next_attempt_works(
    scrapyd_egg, site, tmp_path
):
    with running_nodes(tmp_path / "nodes", scrapyd_egg) as nodes:
        db = tmp_path / "archive.db"
        on = make_cluster(nodes, db, node_grace=60.0)
        on.start()  # the node watch takes nodes back when they answer
        try:
            for node in nodes:
                node.kill()
            failed = dispatch(on, site.topic_url())
            assert failed.status == "failed"
            assert "no Scrapyd node could take the job" in (failed.error or "")
            assert "unreachable" in (failed.error or "")
            for node in nodes:
                node.start()
            wait_until(lambda: all(n.down_until == 0.0 for n in on.nodes), 30, "nodes back")
            assert dispatch(on, site.topic_url()).status == "ok"
        finally:
            on.stop.set()
            on.close()
    assert [row[0] for row in query(db, "select status from crawl_runs order by id")] == [
        "failed",
        "ok",
    ]
    committed_once(db)


@pytest.mark.slow
def test_a_job_on_a_node_gone_past_the_grace_runs_elsewhere_and_is_cancelled_on_return(
    scrapyd_egg, gated, tmp_path
):
    with running_nodes(tmp_path / "nodes", scrapyd_egg) as nodes:
        db = tmp_path / "archive.db"
        on = make_cluster(nodes[:1], db, node_grace=1.0)
        on.nodes += make_cluster(nodes[1:], db).nodes  # node 1 first: the job goes there
        on.start()
        try:
            gated.gate.clear()
            thread, done = in_background(lambda: dispatch(on, gated.topic_url()))
            wait_until(nodes[0].crawl_pids, 60, "the crawl on node 1")
            nodes[0].kill()  # gone: after the grace the run goes to node 2
            wait_until(nodes[1].crawl_pids, 60, "the crawl on node 2")
            nodes[0].start()
            gated.gate.set()
            thread.join(TIMEOUT)
            assert done and done[0].status == "ok", done and done[0].error
            wait_until(lambda: query(db, "select 1 from scrapyd_jobs where state = 'cancelled'"),
                       30, "the abandoned job cancelled")  # fmt: skip
        finally:
            on.stop.set()
            on.close()
    states = sorted(state for (state,) in query(db, "select state from scrapyd_jobs"))
    assert states == ["cancelled", "committed"]
    assert [row[0] for row in query(db, "select status from crawl_runs")] == ["ok"]
    committed_once(db)


@pytest.mark.slow
def test_a_feed_deleted_before_it_was_fetched_fails_the_run(scrapyd_egg, site, tmp_path):
    """jobs_to_keep deletes older feeds as jobs start (Scrapyd's default keeps 5, and every
    topic shares one spider): a feed gone before the daemon fetched it is a failed run."""
    with running_nodes(tmp_path / "nodes", scrapyd_egg, count=1, jobs_to_keep=1) as [node]:
        db = tmp_path / "archive.db"
        on = make_cluster([node], db)
        client = on.nodes[0].client

        def another_job_first(phase: str) -> None:
            if not phase.startswith("Scrapyd job "):
                return
            job = phase.split()[2]
            wait_until(lambda: client.state("topicwatch", job) == "finished", 60, "the job")
            for other in ("another-1", "another-2"):  # the second start deletes the feed
                client.schedule("topicwatch", "topic", other, version="",
                                args={"url": site.topic_url()},
                                settings={"TOPICWATCH_OUTPUT": "feed", **FAST})  # fmt: skip
                wait_until(lambda o=other: client.state("topicwatch", o) == "finished", 60, other)

        topic = TopicConfig(name="nato", url=site.topic_url(), timeout=TIMEOUT)
        result = on.crawl(topic, datetime.now(UTC), time.monotonic() + TIMEOUT, another_job_first)
    assert result is not None and result.status == "failed"
    assert "without its end record" in (result.error or "")
    assert scalar(db, "select count(*) from items") == 0
