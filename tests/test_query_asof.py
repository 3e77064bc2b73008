"""``topicwatch asof``: the listing in force at a moment, with the text known then."""

from __future__ import annotations

from pathlib import Path

import pytest
from query_archive import EDITED_HEADLINE, FULL_WIDTH, RETRACTED, T0, invoke, invoke_json
from query_archive import story_copy as copy

ENTRY_KEYS = {
    "topic",
    "listed_at",
    "run_id",
    "position",
    "page",
    "item_id",
    "url",
    "headline",
    "summary",
    "published_at",
    "version",
    "version_observed_at",
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy(tmp_path_factory.mktemp("asof"))[1]


def slugs(entries: list[dict]) -> list[str]:
    return [entry["url"].rstrip("/").rsplit("/", 1)[-1] for entry in entries]


def test_the_first_listing(db):
    entries = invoke_json(db, "asof", "2026-02-01T03:00")
    assert len(entries) == 20 and set(entries[0]) == ENTRY_KEYS
    assert [e["position"] for e in entries] == list(range(1, 21))
    assert {e["listed_at"] for e in entries} == {"2026-02-01T00:00:00+00:00"}
    assert {e["version"] for e in entries} == {1}


def test_text_as_known_at_the_moment(db):
    before = {e["url"]: e for e in invoke_json(db, "asof", "2026-02-01T11:00")}
    after = {e["url"]: e for e in invoke_json(db, "asof", "2026-02-01T21:00+09:00")}
    assert before.keys() == after.keys()  # the edit run did not reorder the listing
    (edited,) = [url for url in after if url.rstrip("/").endswith(EDITED_HEADLINE)]
    assert (before[edited]["version"], after[edited]["version"]) == (1, 2)
    assert after[edited]["headline"] != before[edited]["headline"]
    assert slugs(list(after.values()))[0] == FULL_WIDTH.slug


def test_retraction_and_return(db):
    assert RETRACTED in slugs(invoke_json(db, "asof", "2026-02-01T17:00"))
    assert RETRACTED not in slugs(invoke_json(db, "asof", "2026-02-01T19:00"))
    assert slugs(invoke_json(db, "asof", "2026-02-02T13:00"))[0] == RETRACTED


def test_relative_when_and_topic(db):
    latest = invoke_json(db, "asof", "30m", "--topic", "nato")
    assert len(latest) == 30 and all(e["listed_at"] == "2026-02-04T12:00:00+00:00" for e in latest)


def test_table_view(db):
    output = invoke(db, "asof", "2026-02-01T03:00").stdout.splitlines()
    assert output[0] == "nato: listing read 2026-02-01 00:00Z (run 1)"
    assert output[1].split() == ["pos", "page", "item", "v", "published", "headline"]


def test_before_the_first_listing_and_bad_when(db):
    early = invoke(db, "asof", (T0.replace(day=1, month=1)).isoformat())
    assert early.exit_code == 2 and early.stderr.count("\n") == 1
    assert "the first is from 2026-02-01T00:00:00+00:00" in early.stderr
    bad = invoke(db, "asof", "2026-13-45")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: WHEN: not a time: '2026-13-45'")
