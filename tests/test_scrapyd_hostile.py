"""The daemon's side of the cluster against a node that misbehaves: a hostile HTTP server
on 127.0.0.1 posing as Scrapyd (tests/hostile_node.py). Each ends as a one-line error or
a failed run with its reason on record; no credential leaves for another address."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import FAST, query, wait_until
from hostile_node import HostileNode, reply

from topicwatch.daemon.cluster_config import NodeConfig, ScrapydConfig
from topicwatch.daemon.scrapyd import Cluster
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
