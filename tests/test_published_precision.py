"""``published_at`` keeps the most precise time observed and says how precise it is."""

from __future__ import annotations

import re
import urllib.request
from urllib.parse import urlsplit

from conftest import archive_at, rows, run_crawl
from fixture_site import load_seed_articles

from topicwatch.archive import open_archive
from topicwatch.archive.published import more_precise, precision
from topicwatch.archive.schema import MIGRATIONS, _v11_published_precision

SEED = load_seed_articles()


def dates_only(site) -> None:
    """Serve the topic page as a theme that shows dates only (article pages keep times)."""
    with urllib.request.urlopen(site.topic_url(), timeout=10) as answer:  # 127.0.0.1 only
        page = answer.read().decode("utf-8")
    page = re.sub(r'datetime="(\d{4}-\d\d-\d\d)T[^"]*"', r'datetime="\1"', page)
    site.serve_raw(urlsplit(site.topic_url()).path, page.encode("utf-8"))


def test_a_time_from_the_article_page_replaces_the_listing_s_date(site, db):
    dates_only(site)
    run = run_crawl(site.topic_url(), db).run
    assert run["status"] == "ok", run
    stored = dict(
        ((url, (published, how)) for url, published, how in
         rows(db, "select url, published_at, published_precision from items"))
    )  # fmt: skip
    assert stored[site.article_url(SEED[2].slug)] == (SEED[2].published_at, "time")
    assert SEED[2].published_at.endswith("T18:05:00+09:00")


def test_without_the_article_page_the_value_says_it_is_a_date(site, db):
    dates_only(site)
    run = run_crawl(site.topic_url(), db, settings={"TOPICWATCH_ENRICH": "0"}).run
    assert run["status"] == "ok", run
    (published, how), *_ = rows(db, "select published_at, published_precision from items"
                                " where url = ?", (site.article_url(SEED[2].slug),))  # fmt: skip
    assert (published[:10], how) == (SEED[2].published_at[:10], "date")
    # A later run that reads the article page (still pending) makes it precise.
    again = run_crawl(site.topic_url(), db).run
    assert again["items_edited"] == 0
    assert rows(db, "select published_at, published_precision from items where url = ?",
                (site.article_url(SEED[2].slug),)) == [(SEED[2].published_at, "time")]  # fmt: skip


def test_precision_rules():
    assert precision("") == "" and precision("2026-02-10") == "date"
    assert precision("2026-02-10T00:00:00+09:00") == "date"
    assert precision("2026-02-10T18:05:00+09:00") == "time"
    assert more_precise("2026-02-10T00:00:00+09:00", "2026-02-10T18:05:00+09:00").endswith(
        "18:05:00+09:00"
    )
    assert more_precise("2026-02-10T18:05:00+09:00", "2026-02-10T00:00:00+09:00").endswith(
        "18:05:00+09:00"
    )
    assert more_precise("", "2026-02-10T00:00:00+09:00") == "2026-02-10T00:00:00+09:00"


def test_the_migration_marks_existing_values(tmp_path):
    path = tmp_path / "old.db"
    raw = archive_at(path, MIGRATIONS.index(_v11_published_precision))
    for n, value in enumerate(["", "2026-02-10T00:00:00+09:00", "2026-02-10T18:05:00+09:00"]):
        raw.execute(
            "insert into items (url, headline, summary, published_at, first_seen_at,"
            " last_seen_at, version, content_hash) values (?, 'h', 's', ?, 'x', 'x', 1, 'c')",
            [f"https://example.jp/{n}/", value],
        )
    raw.conn.commit()
    raw.close()
    open_archive(str(path)).close()  # migrates
    assert rows(path, "select published_precision from items order by id") == [
        ("",), ("date",), ("time",)]  # fmt: skip
