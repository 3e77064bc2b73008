"""``topicwatch changes`` and the ``edits``/``retractions``/``latest_items`` views."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import pytest
from query_archive import (
    EDITED_HEADLINE,
    EDITED_SUMMARY,
    NEW_HEADLINE,
    NEW_SUMMARY_TAIL,
    RETRACTED,
    invoke,
    invoke_json,
    story_copy,
)

CHANGE_KEYS = {
    "change_id",
    "at",
    "kind",
    "fields",
    "topic",
    "item_id",
    "url",
    "headline",
    "summary",
    "published_at",
    "first_seen_at",
    "version",
    "run_id",
    "headline_before",
    "summary_before",
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_copy(tmp_path_factory.mktemp("changes"))[1]


def slug(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def test_default_is_the_last_day_newest_first(db):
    changes = invoke_json(db, "changes")
    assert len(changes) == 30 and {c["kind"] for c in changes} == {"new"}
    assert all(c["at"] == "2026-02-04T12:00:00+00:00" for c in changes)
    assert set(changes[0]) == CHANGE_KEYS
    everything = invoke_json(db, "changes", "--since", "30d", "--limit", "0")
    assert len(everything) == 20 + 4 + 30 + 2 + 1 + 1
    assert [c["at"] for c in everything] == sorted((c["at"] for c in everything), reverse=True)
    assert len(invoke_json(db, "changes", "--since", "30d", "--limit", "5")) == 5


def test_edited_rows_carry_the_text_before(db):
    edits = invoke_json(db, "changes", "--since", "7d", "--kind", "edited")
    by_slug = {slug(c["url"]): c for c in edits}
    assert set(by_slug) == {EDITED_HEADLINE, EDITED_SUMMARY}
    headline = by_slug[EDITED_HEADLINE]
    assert headline["fields"] == ["headline"] and headline["version"] == 2
    assert headline["headline"] == NEW_HEADLINE
    assert headline["headline_before"].endswith("始動、抑止力を強化")
    summary = by_slug[EDITED_SUMMARY]
    assert summary["fields"] == ["summary"]
    assert summary["summary"] == summary["summary_before"] + NEW_SUMMARY_TAIL


def test_table_shows_edits_as_character_diffs(db):
    result = invoke(db, "changes", "--since", "7d", "--kind", "edited")
    assert "headline: NATOが北極圏で新任務「北極セントリー」[-始動-]{+開始+}" in result.stdout
    assert f"summary: …の連携も想定される。{{+{NEW_SUMMARY_TAIL}+}}" in result.stdout
    coloured = invoke(db, "changes", "--since", "7d", "--kind", "edited", color=True)
    assert click.style("[-始動-]", fg="red") in coloured.stdout


def test_kinds_and_topic_filters(db):
    vanished = invoke_json(db, "changes", "--since", "7d", "--kind", "vanished")
    back = invoke_json(db, "changes", "--since", "7d", "--kind", "reappeared", "--topic", "nato")
    assert [slug(c["url"]) for c in vanished] == [slug(c["url"]) for c in back] == [RETRACTED]
    assert vanished[0]["at"] < back[0]["at"]
    both = invoke_json(db, "changes", "--since", "7d", "--kind", "vanished", "--kind", "reappeared")
    assert [c["kind"] for c in both] == ["reappeared", "vanished"]
    assert invoke_json(db, "changes", "--since", "2026-02-01T20:00", "--until", "2026-02-02") == []


def test_csv_has_a_header_and_one_row_per_change(db):
    lines = invoke(db, "changes", "--since", "7d", "--kind", "edited", "--csv").stdout.splitlines()
    assert lines[0].startswith("change_id,at,kind,fields,topic,item_id,url")
    assert len(lines) == 3


def test_bad_since_is_one_line_exit_2(db):
    result = invoke(db, "changes", "--since", "last tuesday")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --since: not a time: 'last tuesday'")
    assert result.stderr.count("\n") == 1


def query(db: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_views_answer_the_analysts_questions_in_sql(db):
    edits = query(db, "SELECT * FROM edits ORDER BY at, change_id")
    assert [slug(e["url"]) for e in edits] == [EDITED_HEADLINE, EDITED_SUMMARY]
    assert edits[0]["headline_after"] == NEW_HEADLINE
    assert edits[0]["headline_before"] != edits[0]["headline_after"]
    assert edits[1]["summary_after"] == edits[1]["summary_before"] + NEW_SUMMARY_TAIL
    (retraction,) = query(db, "SELECT * FROM retractions")
    assert slug(retraction["url"]) == RETRACTED
    assert retraction["vanished_at"] == "2026-02-01T18:00:00+00:00"
    assert retraction["reappeared_at"] == "2026-02-02T12:00:00+00:00"
    latest = query(db, "SELECT * FROM latest_items")
    assert len(latest) == 54 and {row["status"] for row in latest} == {"listed"}
    assert {row["topic"] for row in latest} == {"nato"}
