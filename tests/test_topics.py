"""``topicwatch topics``: list, rename, retire and restore, on a real archive crawled from a
real local site; a retired topic leaves status and gaps, and its history stays."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import child_env, rows, run_crawl
from fixture_site import FixtureSite


def topicwatch(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topicwatch", *args, "--db", str(db)],
        capture_output=True, text=True, env=child_env(), timeout=120,
    )  # fmt: skip


def as_json(db: Path, *args: str) -> Any:
    done = topicwatch(db, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def crawled(tmp_path: Path) -> Iterator[tuple[FixtureSite, Path]]:
    """Two topics crawled, one of them a tag the site does not list (a mistyped one): its
    run fails, and the topic is on record, in status and in gaps, for good until retired."""
    db = tmp_path / "archive.db"
    with FixtureSite() as site:
        assert run_crawl(site.topic_url(), db).returncode == 0
        assert run_crawl(site.topic_url("uk"), db).returncode == 1
        yield site, db


def test_topics_lists_every_topic_with_its_runs(crawled):
    site, db = crawled
    listed = {t["name"]: t for t in as_json(db, "topics")}
    assert set(listed) == {"nato", "uk"}
    assert listed["nato"]["url"] == site.topic_url()
    assert (listed["nato"]["runs"], listed["nato"]["state"]) == (1, "active")
    assert listed["nato"]["listed"] > 0


def test_a_retired_topic_leaves_status_and_gaps_and_keeps_its_history(crawled):
    _, db = crawled
    items_before = rows(db, "SELECT count(*) FROM topic_items")
    assert [t["name"] for t in as_json(db, "status")["topics"]] == ["nato", "uk"]
    done = topicwatch(db, "topics", "retire", "uk")
    assert done.returncode == 0, done.stderr
    assert "retired uk" in done.stdout
    status = as_json(db, "status")
    assert [t["name"] for t in status["topics"]] == ["nato"]
    assert {g["topic"] for g in as_json(db, "gaps")} <= {"nato"}  # uk's failure is no gap now
    assert rows(db, "SELECT count(*) FROM topic_items") == items_before
    assert rows(db, "SELECT count(*) FROM crawl_runs WHERE topic = 'uk'") == [(1,)]
    listed = {t["name"]: t["state"] for t in as_json(db, "topics")}
    assert listed == {"nato": "active", "uk": "retired"}


def test_crawling_a_retired_topic_makes_it_active_again(crawled):
    site, db = crawled
    assert topicwatch(db, "topics", "retire", site.topic_url("uk")).returncode == 0
    assert run_crawl(site.topic_url("uk"), db).returncode == 1
    assert {t["name"]: t["state"] for t in as_json(db, "topics")}["uk"] == "active"
    assert topicwatch(db, "topics", "retire", "uk").returncode == 0
    assert topicwatch(db, "topics", "restore", "uk").returncode == 0
    assert "uk" in [t["name"] for t in as_json(db, "status")["topics"]]


def test_rename_changes_the_label_only(crawled):
    site, db = crawled
    done = topicwatch(db, "topics", "rename", "nato", "北大西洋条約機構")
    assert done.returncode == 0, done.stderr
    listed = {t["name"]: t["url"] for t in as_json(db, "topics")}
    assert listed["北大西洋条約機構"] == site.topic_url()
    assert as_json(db, "changes", "--since", "1d", "--topic", "北大西洋条約機構")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("retire", "nosuch"), "nosuch"),
        (("rename", "nato", "uk"), "taken"),
        (("rename", "nato", " "), "empty"),
    ],
)
def test_bad_requests_are_one_line_and_change_nothing(crawled, args, message):
    _, db = crawled
    before = rows(db, "SELECT id, name, url, retired_at FROM topics ORDER BY id")
    done = topicwatch(db, "topics", *args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert rows(db, "SELECT id, name, url, retired_at FROM topics ORDER BY id") == before


def test_topics_on_a_missing_archive_creates_nothing(tmp_path):
    db = tmp_path / "none.db"
    done = topicwatch(db, "topics", "retire", "nato")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert not db.exists()
