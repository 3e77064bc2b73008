"""Opening the archive: pragmas, migrations, and one clear error for every bad path."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime

import pytest
from conftest import add_one_version, archive_at

from topicwatch.archive import ArchiveError, open_archive
from topicwatch.archive.changes import Sighting
from topicwatch.archive.enrichment import Article
from topicwatch.archive.runs import begin_run
from topicwatch.archive.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    _v4_search_index_by_store,
    _v5_since_indexes,
    _v7_trust,
    _v8_volatile_edges,
    _v9_volatile_shapes,
)
from topicwatch.archive.search import SearchRequest, search
from topicwatch.archive.store import PageResult, RunReport, commit_run
from topicwatch.archive.text import content_hash

NOW = datetime(2026, 11, 28, tzinfo=UTC)

CONTRACT = {
    "items": {"id", "url", "headline", "summary", "published_at", "first_seen_at",
              "last_seen_at"},
    "item_versions": {"id", "item_id", "version", "headline", "summary", "observed_at",
                      "run_id"},
    "crawl_runs": {"id", "topic", "url", "trigger", "started_at", "finished_at", "status",
                   "pages", "items_seen", "items_new", "items_edited", "items_vanished",
                   "gap_suspected", "error"},
    "changes": {"id", "run_id", "item_id", "kind", "at"},
    "topics": {"id", "name", "url"},
    "topic_items": {"topic_id", "item_id", "last_position", "last_page", "vanished_at"},
}  # fmt: skip


def test_new_archive_has_the_contract_schema_wal_and_version(tmp_path):
    db = open_archive(tmp_path / "a.db")
    for table, columns in CONTRACT.items():
        assert columns <= set(db[table].columns_dict), table
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_archive_that_must_exist_is_never_made(tmp_path):
    """``create=False`` (the daemon and its workers once started): a deleted archive is an
    error, and no new empty one appears in its place."""
    path = tmp_path / "gone.db"
    with pytest.raises(ArchiveError, match="archive not found"):
        open_archive(path, create=False)
    assert list(tmp_path.iterdir()) == []
    open_archive(path).close()
    open_archive(path, create=False).close()  # there: opened as usual


def test_reopening_is_idempotent(tmp_path):
    open_archive(tmp_path / "a.db").close()
    db = open_archive(tmp_path / "a.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_older_archive_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")
    conn.close()
    db = open_archive(path)
    assert "items" in db.table_names()


def test_a_newer_archive_is_refused_untouched(tmp_path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ArchiveError, match="newer"):
        open_archive(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("just some text, long enough to be read as a header" * 20)
    with pytest.raises(ArchiveError, match="not a topicwatch archive"):
        open_archive(path)


def test_missing_directory_and_missing_file_for_readers(tmp_path):
    with pytest.raises(ArchiveError, match="does not exist"):
        open_archive(tmp_path / "nope" / "a.db")
    with pytest.raises(ArchiveError, match="not found"):
        open_archive(tmp_path / "a.db", readonly=True)
    assert not (tmp_path / "a.db").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_is_refused(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(ArchiveError, match="not writable"):
            open_archive(tmp_path / "a.db")
    finally:
        tmp_path.chmod(0o755)


def test_readonly_connection_cannot_write(tmp_path):
    open_archive(tmp_path / "a.db").close()
    db = open_archive(tmp_path / "a.db", readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("INSERT INTO topics (name, url, created_at) VALUES ('x', 'y', 'z')")


def test_an_archive_indexed_by_triggers_is_upgraded_to_the_store_index(tmp_path):
    """Version 3 indexed search by triggers; later the store does: old rows stay found."""
    path = tmp_path / "v3.db"
    raw = archive_at(path, MIGRATIONS.index(_v4_search_index_by_store))
    add_one_version(raw, "ＡＩ防衛で北極圏")  # indexed by the version 3 triggers, folded in SQL
    raw.close()
    db = open_archive(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
    assert "search_fold_scratch" not in db.table_names()
    assert "topic_items_last_run" in [index.name for index in db["topic_items"].indexes]

    def found(query: str) -> list[str]:
        return [hit.headline for hit in search(db, SearchRequest(query, all_versions=True)).hits]

    assert found("ai防衛") == found("北極") == ["ＡＩ防衛で北極圏"]
    run_id = begin_run(db, topic="t", url="http://x/t/", trigger="manual", started_at=NOW, pid=1)
    sighting = Sighting("http://x/b/", "ＡＩ防衛の新方針", "北極圏の要約", "", 1, 1)
    commit_run(db, run_id, RunReport((PageResult("http://x/t/", 1, sightings=(sighting,)),)), NOW)
    assert found("ai防衛") == ["ＡＩ防衛の新方針", "ＡＩ防衛で北極圏"]
    assert found("北極") == ["ＡＩ防衛で北極圏", "ＡＩ防衛の新方針"]  # headline hits rank first


def test_an_older_archive_gets_the_since_indexes(tmp_path):
    """Search --since reads versions by time archived and items by their sightings."""
    path = tmp_path / "old.db"
    archive_at(path, MIGRATIONS.index(_v5_since_indexes)).close()
    db = open_archive(path)
    assert "item_versions_observed" in [index.name for index in db["item_versions"].indexes]
    columns = {index.name: index.columns for index in db["items"].indexes}
    assert columns["items_last_seen"] == ["last_seen_at", "first_seen_at"]


def test_a_version_6_archive_keeps_its_history_through_the_trust_migration(tmp_path):
    """Version 7 rebuilds ``changes`` (new kinds), and orders listings by run, not clock."""
    path = tmp_path / "v6.db"
    raw = archive_at(path, MIGRATIONS.index(_v7_trust))
    add_one_version(raw, "北極圏の演習")
    raw.execute("UPDATE crawl_runs SET status = 'ok', finished_at = '2026-02-13T00:00:00+00:00'")
    raw.execute(
        "INSERT INTO topic_items (topic_id, item_id, first_listed_at, last_listed_at,"
        " last_position, last_page) VALUES (1, 1, 'x', '2026-02-13T00:00:00+00:00', 1, 1)"
    )
    raw.execute("INSERT INTO changes (id, run_id, item_id, kind, at) VALUES (7, 1, 1, 'new', 'x')")
    raw.close()
    db = open_archive(path)
    assert db.execute("SELECT id, kind FROM changes").fetchall() == [(7, "new")]
    assert db.execute("SELECT last_run_id FROM topic_items").fetchall() == [(1,)]
    assert db.execute("SELECT item_id, enriched_at FROM enrichment").fetchall() == [(1, "x")]
    assert {"edits", "retractions", "latest_items"} <= set(db.view_names())
    db.execute("INSERT INTO changes (run_id, item_id, kind, at) VALUES (1, 1, 'filled', 'y')")
    db.execute("INSERT INTO changes (run_id, item_id, kind, at) VALUES (1, 1, 'alternating', 'y')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO changes (run_id, item_id, kind, at) VALUES (1, 1, 'bogus', 'y')")


def test_lone_surrogates_are_stored_as_replacement_characters(tmp_path):
    """JSON-LD can carry "\\ud800": one such character used to fail the whole commit."""
    db = open_archive(tmp_path / "a.db")
    run_id = begin_run(db, topic="t", url="http://x/t/", trigger="manual", started_at=NOW, pid=1)
    sighting = Sighting("http://x/a/", "見出し\ud800", "要約\udfff", "", 1, 1)
    article = Article("http://x/a/", "", "記事\ud800", "", ("タグ\ud800",))
    report = RunReport((PageResult("http://x/t/", 1, sightings=(sighting,)),), articles=(article,))
    assert commit_run(db, run_id, report, NOW).status == "ok"
    assert db.execute("SELECT headline, summary, tags FROM items").fetchone() == (
        "見出し\ufffd",
        "要約\ufffd",
        '["タグ\ufffd"]',
    )


def test_hashes_are_recomputed_when_volatile_fragments_stop_counting(tmp_path):
    """An archive from before fragments were ignored holds "見出し48分前" with the old hash:
    after the upgrade the same headline without its time is no edit."""
    path = tmp_path / "v7.db"
    raw = archive_at(path, MIGRATIONS.index(_v8_volatile_edges))
    add_one_version(raw, "北極圏で演習 48分前")
    raw.execute("UPDATE items SET headline = '北極圏で演習 48分前', summary = '要約'")
    raw.close()
    db = open_archive(path)
    expected = content_hash("北極圏で演習", "要約")
    assert db.execute("SELECT content_hash FROM items").fetchone() == (expected,)
    assert db.execute("SELECT content_hash FROM item_versions").fetchone() == (expected,)
    assert db.execute("SELECT headline FROM items").fetchone() == ("北極圏で演習 48分前",)


def test_hashes_are_recomputed_when_fragments_are_known_by_shape(tmp_path):
    """An archive of version 8 hashed "北極圏で演習 1,234回再生" with its count (and
    "ＮＥＷ！" as text): after the upgrade the same text without them is no edit, and the
    stored text stays as published."""
    path = tmp_path / "v8.db"
    raw = archive_at(path, MIGRATIONS.index(_v9_volatile_shapes))
    add_one_version(raw, "北極圏で演習 1,234回再生")
    old = "ＮＥＷ！ 北極圏で演習 1,234回再生"
    raw.execute("UPDATE items SET headline = ?, summary = '要約 Updated 3 hours ago'", (old,))
    raw.execute("UPDATE item_versions SET headline = ?, summary = '要約'", (old,))
    raw.close()
    db = open_archive(path)
    expected = content_hash("北極圏で演習", "要約")
    assert db.execute("SELECT content_hash FROM items").fetchone() == (expected,)
    assert db.execute("SELECT content_hash FROM item_versions").fetchone() == (expected,)
    assert db.execute("SELECT headline FROM items").fetchone() == (old,)


def test_checking_the_archive_keeps_the_locks_of_this_process_s_connections(tmp_path):
    """Opening the archive again (its header is read) while a connection of this process
    is open must not drop that connection's POSIX locks: another process closing its own
    connection would take itself for the last one and delete the WAL under ours."""
    import subprocess
    import sys

    from topicwatch.archive import open_archive

    db = tmp_path / "archive.db"
    held = open_archive(db)  # this process's connection, open throughout
    try:
        held.execute("SELECT count(*) FROM topics").fetchone()
        open_archive(db).close()  # a second check in the same process (a daemon thread)
        writer = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            " c.execute(\"INSERT INTO topics (name, url, created_at) VALUES ('x', 'u', 't')\");"
            " c.commit(); c.close()"
        )
        subprocess.run([sys.executable, "-c", writer, str(db)], check=True, timeout=60)
        assert (tmp_path / "archive.db-wal").exists(), "another process deleted our WAL"
        assert held.execute("SELECT count(*) FROM topics").fetchone() == (1,)
    finally:
        held.close()
