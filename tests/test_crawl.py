"""End to end: the real spider, a real local site, a real SQLite archive."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import child_env, rows, run_crawl, scalar
from fixture_site import load_seed_articles, make_articles

SEED = load_seed_articles()


def item_texts(db: Path) -> dict[str, tuple[str, str, str]]:
    return {
        url.rsplit("/", 2)[-2]: (headline, summary, published_at)
        for url, headline, summary, published_at in rows(
            db, "select url, headline, summary, published_at from items"
        )
    }


def change_kinds(db: Path, run_id: int) -> list[tuple[str, str]]:
    return rows(
        db,
        "select c.kind, i.url from changes c join items i on i.id = c.item_id"
        " where c.run_id = ? order by c.id",
        (run_id,),
    )


def test_first_crawl_archives_the_seed_page_exactly(site, db):
    crawl = run_crawl(site.topic_url(), db)
    assert crawl.returncode == 0, crawl.stderr
    run = crawl.run
    assert (run["status"], run["pages"], run["items_seen"], run["items_new"]) == ("ok", 1, 20, 20)
    assert run["trigger"] == "manual"
    assert run["gap_suspected"] == 0
    texts = item_texts(db)
    assert texts == {a.slug: (a.headline, a.summary, a.published_at) for a in SEED}
    assert scalar(db, "select count(*) from item_versions") == 20
    assert scalar(db, "select count(*) from changes where kind = 'new'") == 20
    positions = rows(
        db,
        "select i.url, t.last_position, t.last_page from topic_items t"
        " join items i on i.id = t.item_id order by t.last_position",
    )
    assert [p for _, p, _ in positions] == list(range(1, 21))
    assert positions[0][0] == site.article_url(SEED[0].slug)


def test_urls_are_canonical_and_the_lead_block_is_not_a_second_item(site, db):
    run_crawl(site.topic_url(), db)
    urls = [url for (url,) in rows(db, "select url from items")]
    assert len(urls) == len(set(urls)) == 20
    assert all(url.startswith(site.base_url + "/articles/") and url.endswith("/") for url in urls)
    assert not any("popular" in url or "/tag/" in url for url in urls)


def test_unchanged_recrawl_uses_304_and_changes_nothing(site, db):
    run_crawl(site.topic_url(), db)
    site.clear_log()
    second = run_crawl(site.topic_url(), db)
    assert second.returncode == 0, second.stderr
    run = second.run
    assert (run["items_seen"], run["items_new"], run["items_edited"], run["items_vanished"]) == (
        20,
        0,
        0,
        0,
    )
    assert run["pages_not_modified"] == 1
    assert [r.status for r in site.requests if r.path == "/articles/tag/nato/"] == [304]
    assert scalar(db, "select count(*) from item_versions") == 20
    assert scalar(db, "select count(*) from changes") == 20


def test_an_edit_adds_a_version_and_an_edited_change(site, db):
    run_crawl(site.topic_url(), db)
    new_summary = SEED[2].summary.replace("見通しと報道", "見通しと複数の報道")
    site.edit_article(SEED[2].slug, summary=new_summary)
    run = run_crawl(site.topic_url(), db).run
    assert (run["items_edited"], run["items_new"], run["items_vanished"]) == (1, 0, 0)
    versions = rows(
        db,
        "select v.version, v.summary from item_versions v join items i on i.id = v.item_id"
        " where i.url = ? order by v.version",
        (site.article_url(SEED[2].slug),),
    )
    assert versions == [(1, SEED[2].summary), (2, new_summary)]
    assert change_kinds(db, run["id"]) == [("edited", site.article_url(SEED[2].slug))]
    assert scalar(db, "select fields from changes where kind = 'edited'") == "summary"


def test_spacing_and_width_changes_are_not_edits(site, db):
    run_crawl(site.topic_url(), db)
    # Full-width letters, an ideographic space and doubled spaces: the same text to a reader.
    site.edit_article(SEED[0].slug, headline=SEED[0].headline.replace("、", "、\u3000 "))
    site.edit_article(SEED[1].slug, headline=SEED[1].headline.replace("NATO", "ＮＡＴＯ"))
    run = run_crawl(site.topic_url(), db).run
    assert run["items_edited"] == 0
    assert scalar(db, "select count(*) from item_versions") == 20


def test_new_arrivals_push_items_down_without_vanishing_them(site, db):
    run_crawl(site.topic_url(), db)
    site.add_articles(make_articles(3))
    run = run_crawl(site.topic_url(), db).run
    assert (run["items_new"], run["items_vanished"], run["pages"]) == (3, 0, 1)
    # Page 1 held known items, so paging stopped there: the 3 oldest scrolled to page 2.
    assert run["items_seen"] == 20
    assert [kind for kind, _ in change_kinds(db, run["id"])] == ["new"] * 3


def test_a_retraction_is_vanished_and_scroll_off_is_not(site, db):
    run_crawl(site.topic_url(), db)
    site.remove_article(SEED[5].slug)
    site.add_articles(make_articles(2))
    run = run_crawl(site.topic_url(), db).run
    assert (run["items_new"], run["items_vanished"]) == (2, 1)
    assert change_kinds(db, run["id"])[-1] == ("vanished", site.article_url(SEED[5].slug))
    # SEED[19] scrolled to page 2, which this run did not read: still listed.
    vanished = rows(db, "select count(*) from topic_items where vanished_at is not null")
    assert vanished == [(1,)]


def test_a_retracted_item_that_returns_is_reappeared(site, db):
    run_crawl(site.topic_url(), db)
    retracted = SEED[4]
    site.remove_article(retracted.slug)
    run_crawl(site.topic_url(), db)
    site.set_listing("nato", load_seed_articles())
    run = run_crawl(site.topic_url(), db).run
    assert change_kinds(db, run["id"]) == [("reappeared", site.article_url(retracted.slug))]
    assert scalar(db, "select count(*) from topic_items where vanished_at is not null") == 0


def test_the_summary_line_counts_reappeared_items(site, db):
    """The line a user reads names reappeared items (only when there are any, like
    filled): a retraction undone is news, and ``0 reappeared`` on every run is noise."""
    run_crawl(site.topic_url(), db)
    site.remove_article(SEED[4].slug)
    run_crawl(site.topic_url(), db)
    site.set_listing("nato", load_seed_articles())
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", site.topic_url(),
               "--db", str(db), "-s", "DOWNLOAD_DELAY=0"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert ", 0 vanished, 1 reappeared" in done.stdout
    quiet = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=120)
    assert "reappeared" not in quiet.stdout


def test_continuity_paging_fills_a_thirty_item_gap(site, db):
    run_crawl(site.topic_url(), db)
    site.add_articles(make_articles(30))
    run = run_crawl(site.topic_url(), db).run
    # Pages 1 and 2 hold only new items; page 2's tail meets the known ones.
    assert run["pages"] == 2
    assert (run["items_new"], run["items_vanished"], run["gap_suspected"]) == (30, 0, 0)
    assert scalar(db, "select count(*) from items") == 50


def test_page_limit_before_known_items_flags_a_gap(site, db):
    run_crawl(site.topic_url(), db)
    site.add_articles(make_articles(45))
    run = run_crawl(site.topic_url(), db, "--max-pages", "2").run
    assert (run["pages"], run["items_new"], run["gap_suspected"]) == (2, 40, 1)
    assert run["items_vanished"] == 0
    filled = run_crawl(site.topic_url(), db, "--pages", "4").run
    assert (filled["pages"], filled["items_new"], filled["items_vanished"]) == (4, 5, 0)


def test_a_failed_run_leaves_the_archive_untouched(site, db):
    run_crawl(site.topic_url(), db)
    before = rows(db, "select * from items order by id")
    site.fail("/articles/tag/nato/", 503)
    crawl = run_crawl(site.topic_url(), db, settings={"RETRY_TIMES": "1"})
    assert crawl.returncode == 1
    run = crawl.run
    assert (run["status"], run["reason"]) == ("failed", "http")
    assert "503" in run["error"]
    assert rows(db, "select * from items order by id") == before
    assert scalar(db, "select count(*) from changes where run_id = ?", (run["id"],)) == 0
    assert scalar(db, "select count(*) from topic_items where vanished_at is not null") == 0


def test_a_page_without_items_fails_with_reason_layout(site, db):
    run_crawl(site.topic_url(), db)
    site.serve_raw("/articles/tag/nato/", b"<html><body><p>maintenance</p></body></html>")
    crawl = run_crawl(site.topic_url(), db)
    assert crawl.returncode == 1
    assert (crawl.run["status"], crawl.run["reason"]) == ("failed", "layout")
    assert scalar(db, "select count(*) from topic_items where vanished_at is not null") == 0


def test_transient_503_is_retried_honouring_retry_after(site, db):
    site.fail("/articles/tag/nato/", 503, times=2, headers={"Retry-After": "0"})
    crawl = run_crawl(site.topic_url(), db)
    assert crawl.returncode == 0, crawl.stderr
    assert crawl.run["items_new"] == 20
    assert site.hits("/articles/tag/nato/") == 3


def test_requests_identify_topicwatch_and_read_robots_txt(site, db):
    run_crawl(site.topic_url(), db)
    assert site.hits("/robots.txt") == 1
    agents = {r.headers.get("User-Agent", "") for r in site.requests}
    assert len(agents) == 1 and agents.pop().startswith("topicwatch/")


def test_scrapy_crawl_topic_writes_the_same_archive(site, db):
    project = Path(__file__).parents[1]
    env = {**child_env(), "TOPICWATCH_DB": str(db)}
    done = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "topic", "-a", f"url={site.topic_url()}",
         "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=WARNING"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert scalar(db, "select count(*) from items") == 20
    assert rows(db, "select status, items_new from crawl_runs") == [("ok", 20)]
    again = run_crawl(site.topic_url(), db).run
    assert (again["items_new"], again["items_edited"]) == (0, 0)


def test_full_width_spaces_are_stored_as_published(site, db):
    """U+3000 is a character the writer typed (browsers do not fold it): stored as is.
    An archive that stored it as U+0020 before sees no edit (comparison ignores spaces)."""
    articles = load_seed_articles()
    articles[0].headline = "ＮＡＴＯ\u3000外相会合が開幕\u3000北極圏の警戒強化を協議"
    articles[0].summary = "\u3000" + articles[0].summary.replace("、", "、\u3000", 1)
    site.set_listing("nato", articles)
    assert run_crawl(site.topic_url(), db).returncode == 0
    headline, summary = rows(db, "select headline, summary from items where url = ?",
                             (site.article_url(articles[0].slug),))[0]  # fmt: skip
    assert headline == articles[0].headline
    assert summary == articles[0].summary.strip()  # only the field's edges are trimmed
    with sqlite3.connect(db) as conn:  # as earlier versions stored it
        conn.execute("update items set headline = replace(headline, char(12288), ' ')")
    run = run_crawl(site.topic_url(), db).run
    assert (run["status"], run["items_edited"]) == ("ok", 0)
