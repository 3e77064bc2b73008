"""The daemon's side of the cluster against a node that misbehaves: a hostile HTTP server
on 127.0.0.1 posing as Scrapyd (tests/hostile_node.py). Each ends as a one-line error or
a failed run with its reason on record; no credential leaves for another address."""

from __future__ import annotations

import base64

import pytest
from hostile_node import HostileNode, reply

from topicwatch.daemon.scrapyd_client import NodeClient, NodeError


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
