"""A page served again with the very body last parsed is unchanged, as a 304 says.

Most topic pages come without validators, so every check downloads the whole page; when
its bytes are those the archive last parsed (same extraction), the crawl records the run
exactly as a 304-unchanged run, without extracting the page again. Any other byte, even a
volatile one (a render time, a nonce), goes through extraction as before.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

from conftest import rows, run_crawl, scalar

from topicwatch.crawler.extract import Selectors
from topicwatch.crawler.observe import extraction_of

# What differs between two runs recorded alike: their identity and their moments.
_RUN_IDENTITY = {"id", "started_at", "finished_at", "pid"}
_LISTED = "item_id, last_position, last_page, last_run_id, vanished_at"


def last_run(db: Path) -> dict[str, Any]:
    names = [name for (name,) in rows(db, "select name from pragma_table_info('crawl_runs')")]
    values = rows(db, "select * from crawl_runs order by id desc limit 1")[0]
    return {k: v for k, v in zip(names, values, strict=True) if k not in _RUN_IDENTITY}


def history(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a run may change about items, less the moments it happened."""
    return {
        "items": rows(db, "select url, headline, summary, published_at, version from items"),
        "versions": rows(db, "select item_id, version, run_id from item_versions"),
        "changes": rows(db, "select run_id, item_id, kind, fields from changes"),
        "listed": rows(db, f"select {_LISTED} from topic_items order by item_id"),
        "listings": rows(db, "select run_id from listings"),
        "pages": rows(db, "select url, page, item_urls from listing_pages"),
    }


def test_an_identical_body_makes_a_run_equal_to_a_304_unchanged_run(site, db, tmp_path):
    validated = tmp_path / "validated.db"
    for archive in (validated, db):
        assert run_crawl(site.topic_url(), archive).returncode == 0
    site.conditional = True
    assert run_crawl(site.topic_url(), validated).run["pages_not_modified"] == 1  # a 304
    site.conditional = False
    second = run_crawl(site.topic_url(), db)  # the same bytes, served in full
    assert second.returncode == 0, second.stderr
    assert last_run(db) == last_run(validated)
    assert last_run(db)["first_page_items"] is None  # not extracted
    assert history(db) == history(validated)
    fetches = rows(db, "select status, snapshot_id from fetches where kind = 'listing'")
    assert [status for status, _ in fetches] == [200, 200]  # what the site said, as ever
    assert len({snapshot for _, snapshot in fetches}) == 1  # the 304's evidence: the same body


def test_a_body_differing_only_in_volatile_bytes_is_extracted(site, db):
    site.conditional = False
    run_crawl(site.topic_url(), db)
    with urllib.request.urlopen(site.topic_url(), timeout=10) as response:
        page = response.read()
    stamped = page.replace(b"</body>", b"<!-- rendered in 0.031 s, nonce 5f2a -->\n</body>")
    assert stamped != page
    site.serve_raw("/articles/tag/nato/", stamped)
    run = run_crawl(site.topic_url(), db).run
    assert (run["pages_not_modified"], run["first_page_items"]) == (0, 20)  # extracted
    assert (run["items_new"], run["items_edited"], run["items_vanished"]) == (0, 0, 0)
    assert scalar(db, "select count(*) from changes") == 20
    again = run_crawl(site.topic_url(), db).run  # those bytes are now the last parsed
    assert (again["pages_not_modified"], again["first_page_items"]) == (1, None)


def test_pages_are_read_again_when_gap_filling_asks_for_them(site, db):
    site.conditional = False
    run_crawl(site.topic_url(), db)
    run = run_crawl(site.topic_url(), db, "--pages", "1").run
    assert (run["pages_not_modified"], run["first_page_items"]) == (0, 20)


def test_the_extraction_names_what_else_decides_the_reading():
    url, html = "https://example.jp/tag/nato/", "text/html; charset=utf-8"
    plain = extraction_of(url, html, None)
    assert plain == extraction_of(url, html, None)
    others = {
        extraction_of(url, "text/html; charset=shift_jis", None),
        extraction_of(url + "?paged=1", html, None),
        extraction_of(url, html, Selectors(item="li.post")),
    }
    assert plain not in others and len(others) == 3
