"""Opening the archive: pragmas, migrations, and one clear error for every bad path."""

from __future__ import annotations

import os
import sqlite3

import pytest

from archive import ArchiveError, open_archive
from archive.schema import SCHEMA_VERSION

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
