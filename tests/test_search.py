"""``topicwatch search`` and the search index: Japanese of 1, 2, 3+ characters, Latin in
any case, full-width and half-width forms, versions, time windows, ranking, highlighting.

Every query's hits are compared with a brute-force reference (a substring test over the
folded text of every row), so the index, the vocabulary expansion of short words and the
scan fallback are all held to the same answer.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import click
import pytest
import sqlite_utils
import time_machine
from click.testing import CliRunner
from conftest import add_one_version, archive_at
from query_archive import EDITED_HEADLINE, FULL_WIDTH, NOW, story_copy

import topicwatch.archive.search as search_module
from topicwatch.archive import open_archive
from topicwatch.archive.fold import FOLDABLE_GLOB, PAIRS, SINGLES, fold, fold_sql_stages, search_key
from topicwatch.archive.schema import MIGRATIONS, _v3_analysts
from topicwatch.archive.search import SearchRequest, search
from topicwatch.archive.search_index import index_run, index_versions, unindex_versions
from topicwatch.cli import cli

QUERIES = [
    "北",
    "北極",
    "北極圏",
    "ルッテ",
    "NATO",
    "nato",
    "ＮＡＴＯ",
    "AI",
    "ａｉ",
    "グリーンランド",
    "ｸﾞﾘｰﾝﾗﾝﾄﾞ",
    "英国",
    "ルッテ 米国",
    "続報1",
    "「北極セントリー」",
]
HIT_KEYS = {
    "url",
    "headline",
    "summary",
    "published_at",
    "first_seen_at",
    "last_seen_at",
    "item_id",
    "version",
    "latest",
    "observed_at",
    "topics",
    "score",
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_copy(tmp_path_factory.mktemp("search"))[1]


def run(db: Path, *args: str, color: bool = False) -> click.testing.Result:
    with time_machine.travel(NOW, tick=False):
        return CliRunner().invoke(cli, [*args, "--db", str(db)], color=color)


def hits(db: Path, *args: str) -> list[dict]:
    result = run(db, "search", "--limit", "1000", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def reference(db: Path, query: str, all_versions: bool = False) -> set[tuple[str, int]]:
    """(url, version) of every row whose folded text holds every word: no index at all."""
    words = search_key(query).split()
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT i.url, v.version, v.headline, v.summary FROM item_versions v"
        " JOIN items i ON i.id = v.item_id"
        + ("" if all_versions else " WHERE v.version = i.version")
    ).fetchall()
    conn.close()
    return {
        (url, version)
        for url, version, headline, summary in rows
        if all(w in search_key(headline) or w in search_key(summary) for w in words)
    }


@pytest.mark.parametrize("query", QUERIES)
def test_hits_equal_a_brute_force_substring_search(db, query):
    assert {(h["url"], h["version"]) for h in hits(db, query)} == reference(db, query)
    found = hits(db, query, "--all-versions")
    assert {(h["url"], h["version"]) for h in found} == reference(db, query, all_versions=True)


@pytest.mark.parametrize("query", QUERIES)
def test_the_scan_fallback_gives_the_same_hits(db, query, monkeypatch):
    archive = open_archive(db, readonly=True)
    indexed = search(archive, SearchRequest(query, limit=1000))
    monkeypatch.setattr(search_module, "MAX_EXPANSION", 0)
    scanned = search(archive, SearchRequest(query, limit=1000))
    archive.close()
    assert [h.url for h in scanned.hits] == [h.url for h in indexed.hits]
    short = any(len(word) < 3 for word in search_key(query).split())
    assert scanned.method == ("scan" if short else "index")


def test_queries_find_what_an_analyst_expects(db):
    assert len(hits(db, "北極圏")) >= 5
    assert any("ルッテ" in h["headline"] for h in hits(db, "ルッテ"))
    urls = lambda query: {h["url"] for h in hits(db, query)}  # noqa: E731
    assert urls("NATO") == urls("nato") == urls("ＮＡＴＯ")
    assert FULL_WIDTH.slug in str(urls("AI")) and FULL_WIDTH.slug in str(urls("ａｉ"))
    assert FULL_WIDTH.slug in str(urls("グリーンランド"))
    assert urls("グリーンランド") == urls("ｸﾞﾘｰﾝﾗﾝﾄﾞ")
    assert hits(db, "存在しない言葉") == []


def test_json_objects_carry_the_item_and_version(db):
    hit = hits(db, "北極セントリー")[0]
    assert set(hit) == HIT_KEYS
    assert hit["url"].endswith(f"/{EDITED_HEADLINE}/")
    assert hit["latest"] is True and hit["topics"] == ["nato"]
    assert hit["first_seen_at"] == "2026-02-01T00:00:00+00:00"
    assert hit["published_at"] == "2026-02-11T21:40:00+09:00"


def test_hits_are_ranked_headline_first(db):
    found = hits(db, "北極")
    scores = [h["score"] for h in found]
    assert scores == sorted(scores, reverse=True)
    assert "北極" in found[0]["headline"]
    assert len(hits(db, "北極", "--limit", "2")) == 2


def test_earlier_versions_only_with_all_versions(db):
    old_words = "抑止力を強化"  # the headline before the edit
    assert hits(db, old_words) == []
    (old,) = hits(db, old_words, "--all-versions")
    assert (old["version"], old["latest"]) == (1, False)


def test_time_window_keeps_text_listed_in_it(db):
    recent = hits(db, "続報", "--since", "2026-02-04T00:00")
    assert recent and all(h["last_seen_at"] >= "2026-02-04" for h in recent)
    early = hits(db, "北極セントリー", "--all-versions", "--until", "2026-02-01T03:00")
    assert {(h["url"].split("/")[-2], h["version"]) for h in early} == {(EDITED_HEADLINE, 1)}
    assert hits(db, "北極セントリー", "--since", "1h") == []  # not on the last listing


def test_topic_filter(db):
    assert hits(db, "北極圏", "--topic", "nato") == hits(db, "北極圏")
    result = run(db, "search", "北極圏", "--topic", "nope")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


def test_table_highlights_matches_as_published(db):
    result = run(db, "search", "ｸﾞﾘｰﾝﾗﾝﾄﾞ", "--limit", "50", color=True)
    assert result.exit_code == 0
    assert click.style("ｸﾞﾘｰﾝﾗﾝﾄﾞ", fg="yellow", bold=True) in result.stdout
    assert click.style("グリーンランド", fg="yellow", bold=True) in result.stdout
    plain = run(db, "search", "北極圏")
    assert plain.stdout.splitlines()[0].split() == ["seen", "item", "headline", "summary", "url"]
    assert "\x1b" not in plain.stdout


def test_empty_query_is_an_error(db):
    result = run(db, "search", "　 ")
    assert result.exit_code == 2
    assert result.stderr == "Error: the search query is empty\n"


def test_csv_output(db):
    result = run(db, "search", "北極圏", "--csv")
    header = result.stdout.splitlines()[0].split(",")
    assert header[:5] == ["url", "headline", "summary", "published_at", "first_seen_at"]


# ---- the folding and the index's triggers


def test_sql_fold_stages_equal_python_fold():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)")
    alphabet = [*SINGLES, *PAIRS, "ｶ", "ﾞ", "ﾟ", "a", "北", " ", "'", "%"]
    rng = random.Random(5)
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16))) for _ in range(500)]
    samples += list(SINGLES) + list(PAIRS)
    conn.executemany("INSERT INTO t (x) VALUES (?)", [(s,) for s in samples])
    for glob, expression in fold_sql_stages("x"):
        conn.execute(f"UPDATE t SET x = {expression} WHERE x GLOB {glob}")
    folded = [x for (x,) in conn.execute("SELECT x FROM t ORDER BY id")]
    assert folded == [fold(s) for s in samples]
    for source in [*SINGLES, *PAIRS]:  # the triggers' cheap test for "anything to fold?"
        assert conn.execute("SELECT ? GLOB ?", (source, FOLDABLE_GLOB)).fetchone()[0] == 1
    assert conn.execute("SELECT ? GLOB ?", ("北極「」、。", FOLDABLE_GLOB)).fetchone()[0] == 0


def test_fold_examples():
    assert fold("ＮＡＴＯ　ｸﾞﾘｰﾝﾗﾝﾄﾞ（２０２６）") == "NATO グリーンランド(2026)"
    assert search_key("ＡＩ") == "ai"


def _tiny_archive(path: Path) -> sqlite_utils.Database:
    db = open_archive(path)
    db.execute("INSERT INTO topics (name, url, created_at) VALUES ('t', 'http://x/t/', 'x')")
    db.execute(
        "INSERT INTO crawl_runs (topic, topic_id, url, trigger, started_at)"
        " VALUES ('t', 1, 'http://x/t/', 'manual', 'x')"
    )
    db.execute(
        "INSERT INTO items (url, first_seen_at, last_seen_at, content_hash)"
        " VALUES ('http://x/a/', 'x', 'x', 'h')"
    )
    return db


def _found(db: sqlite_utils.Database, query: str) -> list[int]:
    return sorted(hit.version for hit in search(db, SearchRequest(query, all_versions=True)).hits)


def test_search_index_keeps_the_index_in_step_with_versions(tmp_path):
    db = _tiny_archive(tmp_path / "a.db")
    insert = (
        "INSERT INTO item_versions (item_id, version, headline, summary, observed_at, run_id,"
        " content_hash) VALUES (1, ?, ?, ?, 'x', 1, 'h')"
    )
    db.execute(insert, [1, "ＮＡＴＯが北極圏で", "英国"])
    assert _found(db, "英国") == []  # a plain write indexes nothing: writers call search_index
    db.execute(insert, [2, "plain headline", "北極海"])
    index_run(db, 1)
    assert _found(db, "natoが北極") == [1] and _found(db, "北極") == [1, 2]
    first, second = db.execute("SELECT id, headline, summary FROM item_versions ORDER BY id")
    unindex_versions(db, [first])  # a rewrite: out with the old text, in with the new
    db.execute("UPDATE item_versions SET headline = 'ルッテ氏' WHERE version = 1")
    index_versions(db, [(first[0], "ルッテ氏", first[2])])
    assert _found(db, "nato") == [] and _found(db, "ルッテ") == [1]
    unindex_versions(db, [second])
    db.execute("DELETE FROM item_versions WHERE version = 2")
    assert _found(db, "北極") == [] and _found(db, "英国") == [1]


def test_upgrade_indexes_existing_versions(tmp_path):
    path = tmp_path / "old.db"
    raw = archive_at(path, MIGRATIONS.index(_v3_analysts))
    add_one_version(raw, "ＡＩ防衛")
    raw.close()
    db = open_archive(path)
    assert _found(db, "ai防衛") == [1] and _found(db, "AI") == [1]
