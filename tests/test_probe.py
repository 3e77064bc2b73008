"""The daemon's 304 check (crawler.probe): an unchanged topic page is recorded without a
crawl process, exactly as the crawl would record it; anything else falls back to the crawl.
"""

from __future__ import annotations

import socketserver
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import rows, run_crawl, scalar
from daemon_helpers import query
from fixture_site import make_articles

from topicwatch.archive import topic_lock
from topicwatch.daemon import probe as probe_module
from topicwatch.daemon.probe import NotModified, ProbePolicy, conditional_get, record_if_unchanged

POLICY = ProbePolicy(user_agent="topicwatch-test", timeout=5.0, obey_robots=True)
TOPIC_PATH = "/articles/tag/nato/"


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe takes proxies from the environment: here nothing may leave 127.0.0.1."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


def crawled(site, db: Path) -> tuple[str | None, str | None]:
    """Crawl the topic once; return the validators it stored for page 1."""
    assert run_crawl(site.topic_url(), db).run["status"] == "ok"
    etag, modified = rows(db, "SELECT etag, last_modified FROM listing_pages WHERE page = 1")[0]
    return etag, modified


def probe(site, db: Path) -> dict | None:
    return record_if_unchanged(str(db), "nato", site.topic_url(), POLICY, started_at=now(), now=now)


def test_an_unchanged_page_is_recorded_as_the_crawl_records_a_304(site, db):
    crawled(site, db)
    versions = rows(db, "SELECT * FROM item_versions ORDER BY id")
    site.clear_log()
    run = probe(site, db)
    assert run is not None
    assert (run["status"], run["trigger"], run["pages"], run["pages_not_modified"]) == (
        "ok", "schedule", 1, 1,
    )  # fmt: skip
    assert (run["items_seen"], run["items_new"], run["items_edited"], run["items_vanished"]) == (
        20, 0, 0, 0,
    )  # fmt: skip
    assert rows(db, "SELECT * FROM item_versions ORDER BY id") == versions
    seen = "SELECT count(*) FROM topic_items WHERE last_listed_at = ?"
    assert scalar(db, seen, (run["finished_at"],)) == 20
    listing = [r for r in site.requests if r.path == TOPIC_PATH]
    assert [r.status for r in listing] == [304]
    assert "If-None-Match" in listing[0].headers or "If-Modified-Since" in listing[0].headers
    # A crawl of the unchanged page records the same counts.
    again = run_crawl(site.topic_url(), db).run
    assert (again["pages_not_modified"], again["items_seen"], again["items_new"]) == (1, 20, 0)


def test_a_changed_page_is_left_to_the_crawl(site, db):
    crawled(site, db)
    site.add_articles(make_articles(1, start=500))
    runs_before = scalar(db, "SELECT count(*) FROM crawl_runs")
    assert probe(site, db) is None
    assert scalar(db, "SELECT count(*) FROM crawl_runs") == runs_before


def test_no_stored_validators_means_no_request(site, db):
    site.conditional = False
    crawled(site, db)
    site.clear_log()
    assert probe(site, db) is None
    assert site.requests == []


def test_a_busy_topic_is_left_to_the_crawl(site, db):
    crawled(site, db)
    runs_before = scalar(db, "SELECT count(*) FROM crawl_runs")
    with topic_lock(str(db), site.topic_url()):
        assert probe(site, db) is None
    assert scalar(db, "SELECT count(*) FROM crawl_runs") == runs_before


def test_conditional_get_answers_only_a_clean_304(site, db):
    etag, modified = crawled(site, db)
    url = site.topic_url()
    assert conditional_get(url, etag, modified, POLICY) == NotModified(etag)
    assert conditional_get(url, '"stale"', None, POLICY) is None  # 200: changed
    site.fail(TOPIC_PATH, 503, times=1)
    assert conditional_get(url, etag, modified, POLICY) is None
    site.fail(TOPIC_PATH, 301, times=1, headers={"Location": site.topic_url("uk")})
    assert conditional_get(url, etag, modified, POLICY) is None  # never followed
    dead = "http://127.0.0.1:9/articles/tag/nato/"
    assert conditional_get(dead, etag, modified, POLICY) is None


@pytest.fixture
def garbled_server() -> Iterator[str]:
    """A local server whose answer is no HTTP at all (a malformed status line)."""

    class Garbled(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            self.request.sendall(b"HTTP/1.1 2OO Okay-ish\r\n\r\n")

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Garbled) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/articles/tag/nato/"
        server.shutdown()


def test_a_malformed_answer_is_left_to_the_crawl(garbled_server):
    relaxed = ProbePolicy(POLICY.user_agent, POLICY.timeout, obey_robots=False)
    assert conditional_get(garbled_server, '"v1"', None, relaxed) is None
    assert conditional_get(garbled_server, '"v1"', None, POLICY) is None  # robots.txt too


def test_a_failed_commit_leaves_no_running_run(site, db, monkeypatch):
    crawled(site, db)

    def locked(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(probe_module, "commit_run", locked)
    with pytest.raises(sqlite3.OperationalError):
        probe(site, db)
    last = rows(db, "SELECT status, reason FROM crawl_runs ORDER BY id DESC LIMIT 1")
    assert last == [("failed", "crash")]


def test_conditional_get_obeys_robots_txt(site, db):
    etag, modified = crawled(site, db)
    url = site.topic_url()
    site.serve_raw("/robots.txt", b"User-agent: *\nDisallow: /articles/\n")
    site.clear_log()
    assert conditional_get(url, etag, modified, POLICY) is None
    assert site.hits(TOPIC_PATH) == 0
    relaxed = ProbePolicy(POLICY.user_agent, POLICY.timeout, obey_robots=False)
    assert conditional_get(url, etag, modified, relaxed) == NotModified(etag)
    for rules in (
        "Disallow: /*/tag/",
        "Allow: /articles/\nDisallow: /articles/tag/",
        "Disallow: /articles/tag/nato/$",
    ):  # as Scrapy reads them (Protego)
        site.serve_raw("/robots.txt", f"User-agent: *\n{rules}\n".encode())
        assert conditional_get(url, etag, modified, POLICY) is None, rules
    site.fail("/robots.txt", 404)  # no robots.txt: no rules
    assert conditional_get(url, etag, modified, POLICY) == NotModified(etag)
    site.fail("/robots.txt", 500)  # unreadable: the crawl decides
    assert conditional_get(url, etag, modified, POLICY) is None


def ok_runs(db: Path) -> list[dict]:
    keys = ("pid", "items_new", "items_seen", "pages_not_modified")
    sql = f"SELECT {', '.join(keys)} FROM crawl_runs WHERE status = 'ok' ORDER BY id"
    return [dict(zip(keys, row, strict=True)) for row in query(db, sql)]
