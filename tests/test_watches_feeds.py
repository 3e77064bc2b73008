"""Live feeds in ``topicwatch serve``: one Atom feed per watch and per topic, valid for
feedparser, with entry ids that stay the same from one request to the next."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import urlopen

import pytest
from conftest import child_env, run_crawl
from fixture_site import FixtureSite
from watch_helpers import (
    EDITED_HEADLINE,
    produce_new_edited_vanished,
    produce_reappeared,
    watch_config,
    watches,
)

pytest.importorskip("datasette")
feedparser = pytest.importorskip("feedparser")

WATCHES = [
    {"name": "all", "notify": "json://127.0.0.1:9/unused"},
    {"name": "北極", "kinds": ["new", "edited"], "query": "北極", "notify": "json://127.0.0.1:9/x"},
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("feeds")
    db = folder / "archive.db"
    with FixtureSite() as site:
        config = watch_config(folder / "tw.toml", db, site, WATCHES)
        assert run_crawl(site.topic_url(), db).returncode == 0
        assert watches(config, "send", "--wait", "0").returncode == 0  # registers both
        produce_new_edited_vanished(site)
        assert run_crawl(site.topic_url(), db).returncode == 0
        produce_reappeared(site)
        assert run_crawl(site.topic_url(), db).returncode == 0
    yield from _serve(db, free_port())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(db: Path, port: int) -> Iterator[str]:
    command = [sys.executable, "-m", "topicwatch", "serve", "--db", str(db), "--port", str(port)]
    process = subprocess.Popen(command, env=child_env(), stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:  # printed once the port is bound and listening
            if "read-only at http://" in line:
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def fetch(url: str) -> tuple[str, bytes]:
    with urlopen(url, timeout=30) as response:
        return response.headers["Content-Type"], response.read()


def test_a_watch_s_feed_is_valid_atom_with_every_kind_and_stable_ids(served):
    kind, body = fetch(f"{served}/-/watches/all.atom")
    assert kind == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "topicwatch watch: all (new, edited, vanished, reappeared)"
    kinds = [entry.tags[0].term for entry in feed.entries]
    # Newest first; the watch's feed shows history too (it reads the archive, not the outbox).
    assert kinds[:4] == ["reappeared", "vanished", "edited", "new"]
    assert feed.entries[2].title == EDITED_HEADLINE
    assert "{+正式+}" in feed.entries[2].content[0].value
    ids = [entry.id for entry in feed.entries]
    assert len(set(ids)) == len(ids)
    assert [e.id for e in feedparser.parse(fetch(f"{served}/-/watches/all.atom")[1]).entries] == ids


def test_a_watch_s_query_filters_its_feed(served):
    feed = feedparser.parse(fetch(f"{served}/-/watches/{quote('北極')}.atom")[1])
    assert not feed.bozo and feed.entries
    assert all("北極" in e.title + e.summary for e in feed.entries)
    assert {e.tags[0].term for e in feed.entries} <= {"new", "edited"}


def test_a_topic_s_feed_is_the_export_s(served):
    feed = feedparser.parse(fetch(f"{served}/-/topics/nato.atom")[1])
    assert not feed.bozo
    assert feed.feed.title == "topicwatch: nato (new and edited items)"
    assert len(feed.entries) == 22  # 20 first items, 1 new, 1 edit


@pytest.mark.parametrize("path", ["/-/watches/nope.atom", "/-/topics/nope.atom"])
def test_an_unknown_feed_is_not_found(served, path):
    with pytest.raises(HTTPError) as error:
        fetch(served + path)
    assert error.value.code == 404
    error.value.close()
