"""``topicwatch export``: CSV, JSON lines and an Atom feed that validates and is stable."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import feedparser
import pytest
from conftest import run_crawl
from fixture_site import FixtureSite
from query_archive import EDITED_HEADLINE, NEW_HEADLINE, invoke, story_copy


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_copy(tmp_path_factory.mktemp("export"))[1]


def export(db: Path, *args: str) -> str:
    result = invoke(db, "export", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_atom_feed_validates_and_holds_new_and_edited_items(db):
    feed = feedparser.parse(export(db, "--format", "atom"))
    assert feed.bozo == 0, feed.bozo_exception
    assert feed.feed.title == "topicwatch: all topics (new and edited items)"
    assert len(feed.entries) == 20 + 4 + 30 + 2
    ids = [entry.id for entry in feed.entries]
    assert len(set(ids)) == len(ids) and all(i.startswith("tag:127.0.0.1,2026-") for i in ids)
    (edit,) = [e for e in feed.entries if e.title == NEW_HEADLINE]
    assert edit.id.endswith("/v2") and {t.term for t in edit.tags} == {"edited", "nato"}
    assert "[-始動-]{+開始+}" in edit.content[0].value
    assert edit.link.endswith(f"/{EDITED_HEADLINE}/")
    assert feed.entries[0].updated == "2026-02-04T12:00:00+00:00"


def test_atom_since_and_topic(db):
    feed = feedparser.parse(export(db, "--format", "atom", "--topic", "nato", "--since", "2d"))
    assert feed.bozo == 0 and len(feed.entries) == 30
    assert feed.feed.title == "topicwatch: nato (new and edited items)"


def test_csv_and_jsonl_carry_the_same_entries(db):
    rows = list(csv.DictReader(io.StringIO(export(db, "--format", "csv"))))
    lines = [json.loads(line) for line in export(db, "--format", "jsonl").splitlines()]
    assert len(rows) == len(lines) == 56
    assert [r["entry_id"] for r in rows] == [line["entry_id"] for line in lines]
    assert {line["kind"] for line in lines} == {"new", "edited"}
    assert set(lines[0]) >= {"url", "headline", "summary", "published_at", "first_seen_at"}
    assert len(export(db, "--format", "jsonl", "--limit", "3").splitlines()) == 3


def test_ids_are_stable_across_exports_and_crawls(tmp_path):
    db = tmp_path / "feed.db"
    with FixtureSite() as site:
        assert run_crawl(site.topic_url(), db).returncode == 0
        first = export(db, "--format", "atom")
        assert export(db, "--format", "atom") == first  # same archive, same bytes
        site.edit_article(EDITED_HEADLINE, headline=NEW_HEADLINE)
        assert run_crawl(site.topic_url(), db).returncode == 0
    before = {e.id for e in feedparser.parse(first).entries}
    after = feedparser.parse(export(db, "--format", "atom"))
    assert after.bozo == 0
    assert before < {e.id for e in after.entries}
    (new_id,) = {e.id for e in after.entries} - before
    assert new_id.endswith("/v2")
