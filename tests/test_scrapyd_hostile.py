"""The daemon's side of the cluster against a node that misbehaves: a hostile HTTP server
on 127.0.0.1 posing as Scrapyd (tests/hostile_node.py). Each ends as a one-line error or
a failed run with its reason on record; no credential leaves for another address."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import FAST, query, wait_until
from hostile_node import HostileNode, reply

from topicwatch import __version__
from topicwatch.archive.changes import Sighting
from topicwatch.archive.run_feed import end_record
from topicwatch.archive.store import PageResult, RunReport
from topicwatch.daemon import scrapyd, scrapyd_client
from topicwatch.daemon.cluster_config import NodeConfig, ScrapydConfig
from topicwatch.daemon.config import TopicConfig
from topicwatch.daemon.scrapyd import Cluster, Dispatched
from topicwatch.daemon.scrapyd_client import NodeClient, NodeError


def make_cluster(node: HostileNode, db: Path, **options: Any) -> Cluster:
    config = ScrapydConfig(nodes=(NodeConfig(node.url, 2),), **{"poll": 0.2, **options})
    return Cluster(config, db, dict(FAST), threading.Event())


def test_a_redirect_is_not_followed_and_the_credentials_stay_home():
    with HostileNode() as elsewhere, HostileNode() as node:
        elsewhere.routes["/"] = lambda h: reply(h, {"status": "ok", "running": 0, "pending": 0})
        target = (("Location", f"{elsewhere.url}/daemonstatus.json"),)
        node.routes["/"] = lambda h: reply(h, b"", 302, target)
        client = NodeClient(node.url, "topicwatch", "s3cret")
        with pytest.raises(NodeError, match="302 redirect not followed") as raised:
            client.daemonstatus()
    assert elsewhere.requests == []
    sent = base64.b64encode(b"topicwatch:s3cret").decode()
    assert sent not in str(raised.value) and "s3cret" not in str(raised.value)


def test_the_environments_proxy_never_sees_a_node_call_or_its_credentials(monkeypatch):
    """Nodes are the operator's own hosts: a proxy set for the web (http_proxy) must not
    get their calls, with the basic-auth header in them."""
    with HostileNode() as proxy, HostileNode() as node:
        # A proxy is asked for the absolute URL.
        proxy.routes["http://"] = lambda h: reply(h, {"status": "ok", "running": 7, "pending": 7})
        node.routes["/"] = lambda h: reply(h, {"status": "ok", "running": 1, "pending": 0})
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.url)
        opener = urllib.request.build_opener()  # reads the environment now (urlopen cached it)
        with opener.open(f"{node.url}/daemonstatus.json", timeout=30) as control:
            assert json.load(control)["running"] == 7  # the control: urllib takes the proxy
        proxy.requests.clear()
        assert NodeClient(node.url, "topicwatch", "s3cret").daemonstatus() == (1, 0)
    assert proxy.requests == []


@pytest.mark.parametrize("answer", [b"[" * 200_000, b"<html>busy</html>", b'{"status": "error"}'])
def test_an_answer_that_is_not_scrapyd_json_is_a_node_error(answer):
    with HostileNode() as node:
        node.routes["/schedule.json"] = lambda h: reply(h, answer)
        with pytest.raises(NodeError, match=r"schedule\.json"):
            NodeClient(node.url).schedule("topicwatch", "topic", "j", version="", args={},
                                          settings={})  # fmt: skip


def test_the_node_watch_outlives_a_daemonstatus_without_counts(tmp_path):
    db = tmp_path / "archive.db"
    with HostileNode() as node:
        node.routes["/daemonstatus.json"] = lambda h: reply(h, {"status": "ok", "running": "lots"})
        cluster = make_cluster(node, db)
        cluster.start()
        try:
            wait_until(lambda: query(db, "select last_error from scrapyd_nodes"), 60, "a check")
            assert (
                "did not answer job counts"
                in query(db, "select last_error from scrapyd_nodes")[0][0]
            )
            node.routes["/daemonstatus.json"] = lambda h: reply(
                h, {"status": "ok", "running": 1, "pending": 0}
            )
            back = "select reachable, running from scrapyd_nodes"
            wait_until(lambda: query(db, back) == [(1, 1)], 60, "the node taken back")
        finally:
            cluster.stop.set()
            cluster.close()


TOPIC_URL = "http://127.0.0.1:9/articles/tag/nato/"  # never fetched: the node forges it all


def end_line(job: str, page: str = TOPIC_URL, **changes: Any) -> bytes:
    """A well-formed end record of the job's run with one listed item on ``page``, then
    ``changes`` (a ``report_`` or ``sighting_`` prefix changes a field inside)."""
    sighting = Sighting(f"{page}a", "Headline", "", "2026-01-01", 1, 1)
    report = RunReport(pages=(PageResult(page, 1, sightings=(sighting,)),),
                       extractor_version="1")  # fmt: skip
    run = int(job.split("-")[1])
    record = end_record(job, run, outcome=("ok", "", ""), report=report, fetch_order=[],
                        version=__version__)  # fmt: skip
    for key, value in changes.items():
        if key.startswith("report_"):
            record["report"][key.removeprefix("report_")] = value
        elif key.startswith("sighting_"):
            record["report"]["pages"][0]["sightings"][0][key.removeprefix("sighting_")] = value
        else:
            record[key] = value
    return json.dumps(record).encode() + b"\n"


def hold_schedule_calls(node: HostileNode) -> None:
    """schedule.json answers only as the node stops: each call outlasts its deadline
    (the node may have taken the job all the same)."""
    answered = node.routes["/schedule.json"]
    node.routes["/schedule.json"] = lambda h: node.closing.wait(60) or answered(h)


def dispatch(cluster: Cluster, url: str = TOPIC_URL) -> Dispatched:
    topic = TopicConfig(name=url, url=url, timeout=60.0, executor="scrapyd")
    result = cluster.crawl(topic, datetime.now(UTC), time.monotonic() + 60.0)
    assert result is not None
    return result


def test_a_well_formed_forged_feed_is_committed(tmp_path):
    """The control: the hostile node's feed, unchanged, is a good run."""
    db = tmp_path / "archive.db"
    with HostileNode() as node:
        node.scrapyd(lambda job: end_line(job))
        assert dispatch(make_cluster(node, db)).status == "ok"
    assert query(db, "select count(*) from items") == [(1,)]


@pytest.mark.parametrize(
    "feed",
    [
        pytest.param(lambda job: b"[" * 100_000 + b"\n", id="nested-past-the-stack"),
        pytest.param(lambda job: end_line(job, pages=1e400), id="infinite-count"),
        pytest.param(lambda job: end_line(job, report_fields_cleaned=2**70), id="huge-int"),
        pytest.param(lambda job: end_line(job, sighting_published_at=None), id="null-date"),
        pytest.param(lambda job: end_line(job, sighting_position=2**64), id="huge-position"),
        pytest.param(lambda job: end_line(job, sighting_headline=["x"]), id="list-headline"),
        pytest.param(lambda job: end_line(job, status="pwned"), id="unknown-status"),
        pytest.param(lambda job: end_line(job, run=True), id="bool-run"),
        pytest.param(
            lambda job: end_line(job).replace(f'"{job}"'.encode(), b'"' + b"\\n" * 50_000 + b'"'),
            id="another-job-at-length",
        ),
    ],
)
def test_a_feed_of_the_wrong_shape_fails_its_run_on_record(tmp_path, feed):
    db = tmp_path / "archive.db"
    with HostileNode() as node:
        node.scrapyd(feed)
        cluster = make_cluster(node, db)
        result = dispatch(cluster)
        assert result.status == "failed"
        assert "unusable feed" in (result.error or "")
        assert "\n" not in (result.error or "") and len(result.error or "") < 500
        # The topic is free again: its next run is dispatched, and a good feed commits.
        node.scrapyd(lambda job: end_line(job))
        assert dispatch(cluster).status == "ok"
    assert query(db, "select status, reason from crawl_runs order by id") == [
        ("failed", "feed"),
        ("ok", None),
    ]
    assert query(db, "select state from scrapyd_jobs order by rowid") == [
        ("failed",),
        ("committed",),
    ]


def test_a_feed_with_a_page_off_the_topics_origins_fails_and_changes_no_other_topic(tmp_path):
    """A node's run of one topic reporting another site's listing page (the other topic's,
    here) must not take that page's validators and items over: a local crawl never
    fetches off its topic's origins, so such a feed is unusable."""
    db = tmp_path / "archive.db"
    other = "http://127.0.0.2:9/world/"
    pages = "select url, topic_id, item_urls, fetched_at from listing_pages order by url"
    with HostileNode() as node:
        cluster = make_cluster(node, db)
        node.scrapyd(lambda job: end_line(job, page=other))
        assert dispatch(cluster, other).status == "ok"
        before = query(db, pages)
        node.scrapyd(lambda job: end_line(job, page=other))
        result = dispatch(cluster)
    assert result.status == "failed"
    assert f"{other} is off the topic's origins" in (result.error or "")
    assert query(db, pages) == before
    assert query(db, "select count(*) from items") == [(1,)]


def trickle(node: HostileNode, head: bytes) -> Any:
    """A route that sends ``head`` then a byte every 50 ms, for as long as the node runs."""

    def route(handler: Any) -> None:
        handler.wfile.write(head)
        while not node.closing.wait(0.05):
            try:
                handler.wfile.write(b"x")
                handler.wfile.flush()
            except OSError:  # the client gave up
                return

    return route


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n", id="body"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Slow: ", id="headers"),
    ],
)
def test_a_node_trickling_its_answer_meets_the_calls_deadline(monkeypatch, head):
    monkeypatch.setattr(scrapyd_client, "FEED_DEADLINE", 1.0)
    monkeypatch.setattr(scrapyd_client, "CALL_DEADLINE", 1.0)
    with HostileNode() as node:
        node.routes["/"] = trickle(node, head)
        client = NodeClient(node.url)
        started = time.monotonic()
        with pytest.raises(NodeError, match="no whole answer within 1s"):
            client.feed("topicwatch", "topic", "job")
        with pytest.raises(NodeError, match="no whole answer within 1s"):
            client.state("topicwatch", "job")
        assert time.monotonic() - started < 30.0  # the per-read timeout never tripped


def test_an_answer_cut_short_is_a_node_error():
    with HostileNode() as node:

        def cut(handler: Any) -> None:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{")
            handler.close_connection = True

        node.routes["/"] = cut
        with pytest.raises(NodeError, match="unreachable"):
            NodeClient(node.url).feed("topicwatch", "topic", "job")


def test_a_feed_past_the_limit_fails_its_run_and_leaves_the_node_in_service(monkeypatch, tmp_path):
    monkeypatch.setattr(scrapyd_client, "MAX_FEED_BYTES", 64 * 1024)
    db = tmp_path / "archive.db"
    with HostileNode() as node:
        node.scrapyd(lambda job: end_line(job) * 1000)
        cluster = make_cluster(node, db, node_grace=600.0)
        result = dispatch(cluster)
        assert result.status == "failed"
        assert "larger than 64 KiB" in (result.error or "")
        assert cluster.nodes[0].down_until == 0.0  # its other jobs go on
        node.scrapyd(lambda job: end_line(job))
        assert dispatch(cluster).status == "ok"
    assert query(db, "select reason from crawl_runs order by id") == [("feed",), (None,)]


def test_a_schedule_call_that_times_out_is_cancelled_once_the_node_answers(monkeypatch, tmp_path):
    """The node may have taken the job before its answer was lost: an orphaned crawl of
    the site, to be cancelled when the node is back, not a job it refused."""
    monkeypatch.setattr(scrapyd_client, "CALL_DEADLINE", 1.0)
    db = tmp_path / "archive.db"
    with HostileNode() as node:
        node.scrapyd(lambda job: end_line(job))
        hold_schedule_calls(node)
        node.routes["/cancel.json"] = lambda h: reply(h, {"status": "ok", "prevstate": None})
        cluster = make_cluster(node, db, node_grace=1.0)
        cluster.start()
        try:
            result = dispatch(cluster)
            assert result.status == "failed"
            assert "no whole answer within 1s" in (result.error or "")
            cancelled = "select state from scrapyd_jobs"
            wait_until(lambda: query(db, cancelled) == [("cancelled",)], 60, "the job cancelled")
            assert any(
                path.startswith("/cancel.json") and node.jobs[0].encode() in body
                for _, path, _, body in node.requests
            )
        finally:
            cluster.stop.set()
            cluster.close()


def test_the_runs_error_is_what_its_dispatch_saw_though_the_watch_clears_the_node(
    monkeypatch, tmp_path
):
    """The node watch clears a node's error as soon as it answers a status call, which
    it may do between a schedule call cut short and the run's error being written (seen
    in CI): the run keeps the reason its own dispatch met. The watch's real check runs
    at that point, every time, instead of by chance."""
    monkeypatch.setattr(scrapyd_client, "CALL_DEADLINE", 1.0)
    db = tmp_path / "archive.db"
    with HostileNode() as node:
        node.scrapyd(lambda job: end_line(job))
        hold_schedule_calls(node)
        cluster = make_cluster(node, db, node_grace=600.0)
        move = cluster._move

        def watch_then_move(held: Any, exclude: set[str]) -> bool:
            cluster._check(held[0])  # daemonstatus answers: the node is up, its error gone
            assert cluster.nodes[0].error is None
            return move(held, exclude)

        monkeypatch.setattr(cluster, "_move", watch_then_move)
        result = dispatch(cluster)
    assert result.status == "failed"
    assert "schedule.json: no whole answer within 1s" in (result.error or "")
    assert query(db, "select reason from crawl_runs") == [("network",)]


def test_a_cancel_the_node_refuses_does_not_hold_up_the_other_abandoned_jobs(monkeypatch, tmp_path):
    """A node that answers cancel.json with an error (it no longer has the project) has
    nothing to cancel: each abandoned job is settled, not retried for ever ahead of the rest."""
    monkeypatch.setattr(scrapyd_client, "CALL_DEADLINE", 1.0)
    db = tmp_path / "archive.db"
    with HostileNode() as node:
        node.scrapyd(lambda job: end_line(job))
        hold_schedule_calls(node)
        refusal = {"status": "error", "message": "project 'topicwatch' not found"}
        node.routes["/cancel.json"] = lambda h: reply(h, refusal)
        cluster = make_cluster(node, db, node_grace=1.0)
        left_alone = cluster.nodes[0]  # for node_grace after each failed call
        for url in (TOPIC_URL, "http://127.0.0.1:9/world/"):
            wait_until(lambda: left_alone.down_until <= time.monotonic(), 30, "the grace over")
            assert dispatch(cluster, url).status == "failed"
        assert query(db, "select state from scrapyd_jobs") == [("abandoned",)] * 2
        cluster.start()
        try:
            states = "select state, error from scrapyd_jobs order by rowid"
            wait_until(lambda: {s for s, _ in query(db, states)} == {"cancelled"}, 60, "settled")
            assert all("not found" in error for _, error in query(db, states))
        finally:
            cluster.stop.set()
            cluster.close()


def test_what_a_node_says_is_kept_to_one_bounded_line():
    forged = "boom\n  scrapyd node http://forged:1: reachable\x1b]0;title\x07" + "y" * 5000
    with HostileNode() as node:
        node.routes["/daemonstatus.json"] = lambda h: reply(
            h, {"status": "error", "message": forged}
        )
        with pytest.raises(NodeError) as raised:
            NodeClient(node.url).daemonstatus()
    message = str(raised.value)
    assert "\n" not in message and "\x1b" not in message
    assert "boom\\x0a  scrapyd node" in message
    assert len(message) < 400


def test_a_node_that_takes_a_job_under_another_id_has_it_cancelled(tmp_path):
    """The daemon follows a job by the id it chose; one run under another id would crawl
    unwatched (and its feed never be committed)."""
    db = tmp_path / "archive.db"
    with HostileNode() as node:
        node.scrapyd(lambda job: end_line(job))
        node.routes["/schedule.json"] = lambda h: reply(h, {"status": "ok", "jobid": "theirs"})
        node.routes["/cancel.json"] = lambda h: reply(h, {"status": "ok", "prevstate": "running"})
        result = dispatch(make_cluster(node, db))
    assert result.status == "failed"
    assert "took the job as theirs" in (result.error or "")
    assert [body for _, path, _, body in node.requests if path == "/cancel.json"] == [
        b"project=topicwatch&job=theirs"
    ]
    assert query(db, "select state from scrapyd_jobs") == [("refused",)]


def test_a_job_reattached_to_ends_by_its_topics_timeout(monkeypatch, tmp_path):
    """A node listing a reattached job as running for ever holds its topic no longer than
    its timeout (it held it for a day)."""
    monkeypatch.setattr(scrapyd, "FETCH_MARGIN", 0.5)
    db = tmp_path / "archive.db"
    with HostileNode() as node:
        node.scrapyd(lambda job: b"", state="running")
        node.routes["/cancel.json"] = lambda h: reply(h, {"status": "ok", "prevstate": "running"})
        before = make_cluster(node, db)  # the daemon that dispatched it, stopped meanwhile
        topic = TopicConfig(name="nato", url=TOPIC_URL, timeout=1.0, executor="scrapyd")
        crawl = lambda: before.crawl(topic, datetime.now(UTC), time.monotonic() + 3600.0)  # noqa: E731
        thread = threading.Thread(target=crawl, daemon=True)
        thread.start()
        wait_until(lambda: query(db, "select state from scrapyd_jobs"), 60, "the job")
        before.stop.set()
        thread.join(60)
        assert query(db, "select state from scrapyd_jobs") == [("dispatched",)]
        config = ScrapydConfig(nodes=(NodeConfig(node.url, 2),), poll=0.2)
        after = Cluster(config, db, dict(FAST), threading.Event(), topics=lambda url: topic)
        after.start()
        try:
            ended = "select status, reason from crawl_runs"
            wait_until(lambda: query(db, ended) == [("failed", "timeout")], 60, "the timeout")
        finally:
            after.stop.set()
            after.close()
    assert any(path == "/cancel.json" for _, path, _, _ in node.requests)
