"""The paths that keep ``search`` and ``changes`` fast on a large archive give exact answers.

A small archive from the search benchmark's generator (runs through ``commit_run`` over
three weeks, with edits, retractions and cross-listed items) is searched with time
windows, topics and versions, and every answer is compared with a brute-force reference
over all rows: the newest-window cut, the index read only above the window's first
version, and the older versions still listed at ``--since`` found from their items.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
import sqlite_utils

from bench.search_archive import Built, build
from topicwatch.archive import open_archive
from topicwatch.archive.change_feed import list_changes
from topicwatch.archive.fold import PAIRS, SINGLES, key_with_offsets, match_key, search_key
from topicwatch.archive.search import _PLAIN, WINDOW, SearchRequest, search
from topicwatch.archive.search_index import index_versions
from topicwatch.archive.timestamps import iso

QUERIES = ["英国", "北", "NATO", "ウクライナ", "砕氷船", "ルッテ 米国", "英国 北極"]
WINDOWS = [timedelta(hours=12), timedelta(days=2), timedelta(days=5), timedelta(days=10)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("scale") / "a.db", 4000, 4000, days=21)


@pytest.fixture(scope="module")
def db(built: Built) -> sqlite_utils.Database:
    return open_archive(built.path, readonly=True)


def reference(
    db: sqlite_utils.Database, query: str, since: datetime, topic_id: int | None, every: bool
) -> set[tuple[int, int]]:
    """(item, version) of the newest WINDOW versions that match and were listed since."""
    words = search_key(query).split()
    rows = db.execute(
        "SELECT v.id, v.item_id, v.version, i.version, v.headline, v.summary,"
        " coalesce(n.observed_at, i.last_seen_at),"
        " EXISTS (SELECT 1 FROM topic_items t WHERE t.item_id = v.item_id AND t.topic_id = ?)"
        " FROM item_versions v JOIN items i ON i.id = v.item_id"
        " LEFT JOIN item_versions n ON n.item_id = v.item_id AND n.version = v.version + 1"
        " ORDER BY v.id DESC",
        [topic_id],
    ).fetchall()
    kept = [
        (item, version)
        for _, item, version, latest, headline, summary, until, in_topic in rows
        if (every or version == latest)
        and until >= iso(since)
        and (topic_id is None or in_topic)
        and all(w in search_key(headline) or w in search_key(summary) for w in words)
    ]
    return set(kept[:WINDOW])


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_since_windows_equal_a_brute_force_search(built, db, query, window):
    since = built.end - window
    for topic_id, every in [(None, False), (None, True), (2, True)]:
        request = SearchRequest(query, topic_id, since, None, WINDOW, every)
        found = {(hit.item_id, hit.version) for hit in search(db, request).hits}
        assert found == reference(db, query, since, topic_id, every), (topic_id, every)


def test_the_archive_has_older_versions_still_listed_at_since(built, db):
    """The case the since path looks up by item: first seen before --since, seen after."""
    since = iso(built.end - timedelta(days=5))
    older = db.execute(
        "SELECT count(*) FROM items WHERE first_seen_at < ? AND last_seen_at >= ?", [since, since]
    ).fetchone()[0]
    assert older > 20


def test_a_version_replaced_by_a_reextraction_is_found_since(tmp_path):
    """A reparse adds a version without sighting the item: its predecessor stayed listed."""
    db = open_archive(tmp_path / "a.db")
    db.execute("INSERT INTO topics (name, url, created_at) VALUES ('t', 'http://x/t/', 't0')")
    db.execute(
        "INSERT INTO crawl_runs (topic, topic_id, url, trigger, started_at)"
        " VALUES ('t', 1, 'http://x/t/', 'manual', '2026-01-01')"
    )
    db.execute(
        "INSERT INTO items (url, first_seen_at, last_seen_at, content_hash, version)"
        " VALUES ('http://x/a/', '2026-01-01', '2026-01-01', 'h', 2)"
    )
    versions = [(1, "北極の旧見出し", "2026-01-01"), (2, "北極の新見出し", "2026-01-09")]
    for version, text, at in versions:
        cursor = db.execute(
            "INSERT INTO item_versions (item_id, version, headline, summary, observed_at,"
            " run_id, content_hash) VALUES (1, ?, ?, '', ?, 1, 'h')",
            [version, text, at],
        )
        index_versions(db, [(cursor.lastrowid, text, "")])
    db.execute(
        "INSERT INTO changes (run_id, item_id, kind, at, version)"
        " VALUES (1, 1, 'reextracted', '2026-01-09', 2)"
    )
    since = datetime.fromisoformat("2026-01-05T00:00:00+00:00")
    request = SearchRequest("北極", since=since, all_versions=True)
    assert [hit.version for hit in search(db, request).hits] == [1]  # listed until 01-09


@pytest.mark.parametrize("hours", [24, 24 * 7, 24 * 30])
@pytest.mark.parametrize("kinds", [(), ("edited",), ("new", "vanished")])
def test_changes_of_a_topic_equal_the_topic_filtered_in_python(built, db, hours, kinds):
    since = built.end - timedelta(hours=hours)
    everything = list_changes(db, since=since, kinds=kinds)
    for topic_id, name in db.execute("SELECT id, name FROM topics").fetchall():
        wanted = [c for c in everything if c.topic == name][:50]
        assert list_changes(db, since=since, kinds=kinds, topic_id=topic_id, limit=50) == wanted


def test_match_key_is_the_key_of_key_with_offsets():
    alphabet = ["Σ", "σ", "ς", "Α", "İ", "ß", "ﬁ", "ｶﾞ", "ﾊﾟ", "ｶ", "ﾞ", "Ｎ", "ａ", "北", "￣", " "]
    rng = random.Random(3)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert match_key(text) == key_with_offsets(text)[0], text


def test_plain_words_are_their_own_search_key():
    """Kanji and hiragana are never made by folding or lower-casing, so the scan may test
    such words on the stored text (search's ``_PLAIN``)."""
    made = {char for text in [*SINGLES.values(), *PAIRS.values()] for char in text}
    lowered = (chr(code) for code in range(0x110000))
    made |= {char for upper in lowered if upper.lower() != upper for char in upper.lower()}
    assert "ガ" in made and "a" in made
    assert not {char for char in made if _PLAIN.fullmatch(char)}
