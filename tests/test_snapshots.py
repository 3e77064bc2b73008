"""Raw page snapshots: dedup, 304s, re-extraction without false edits, prune, show."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import UTC, datetime

from click.testing import CliRunner
from conftest import rows, run_crawl, scalar
from fixture_site import load_seed_articles

from topicwatch.archive import open_archive
from topicwatch.archive.search import SearchRequest, search
from topicwatch.cli import cli
from topicwatch.crawler import EXTRACTOR_VERSION
from topicwatch.crawler.extract import extract_listing
from topicwatch.crawler.reparse import reparse

SEED = load_seed_articles()
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def without_flash_prefix(text: str, url: str, **options):
    """A 'newer extractor' that knows 【独自】 is a label, not part of the headline."""
    listing = extract_listing(text, url, **options)
    entries = [replace(e, headline=e.headline.removeprefix("【独自】")) for e in listing.entries]
    return replace(listing, entries=entries)


def test_same_body_is_stored_once_and_304_adds_no_bytes(site, db):
    run_crawl(site.topic_url(), db)
    listing_snapshots = "select count(*) from fetches where kind = 'listing'"
    assert scalar(db, "select count(*) from snapshots") == 21  # listing + 20 articles
    site.conditional = False  # the same body again, served in full
    run_crawl(site.topic_url(), db)
    site.conditional = True
    run_crawl(site.topic_url(), db)  # this one is a 304 for... the unconditional body
    run_crawl(site.topic_url(), db)  # ...and this one a real 304
    assert scalar(db, "select count(*) from snapshots") == 21
    assert scalar(db, listing_snapshots) == 4
    statuses = [s for (s,) in rows(db, "select status from fetches where kind = 'listing'")]
    assert statuses[-1] == 304
    assert scalar(db, "select count(distinct snapshot_id) from fetches where kind = 'listing'") == 1


def test_versions_name_their_evidence_and_extractor(site, db):
    run_crawl(site.topic_url(), db)
    assert scalar(db, "select count(*) from item_versions where snapshot_id is null") == 0
    versions = rows(db, "select distinct extractor_version from item_versions")
    assert versions == [(EXTRACTOR_VERSION,)]


def test_reparse_with_an_extractor_change_records_reextracted_not_edited(site, db):
    run_crawl(site.topic_url(), db)
    site.edit_article(SEED[0].slug, headline="【独自】" + SEED[0].headline)
    run = run_crawl(site.topic_url(), db).run
    assert run["items_edited"] == 1  # the old extractor takes the label for an edit
    archive = open_archive(db)
    newer = f"{EXTRACTOR_VERSION}-next"
    result = reparse(archive, now=NOW, extract=without_flash_prefix, extractor_version=newer)
    assert len(result.plan.relabel) == 1 and len(result.plan.versions) == 1
    assert scalar(db, "select count(*) from changes where kind = 'edited'") == 0
    kinds = rows(db, "select kind, count(*) from changes group by kind order by kind")
    assert kinds == [("new", 20), ("reextracted", 2)]
    versions = rows(
        db,
        "select v.version, v.headline, v.extractor_version from item_versions v"
        " join items i on i.id = v.item_id where i.url = ? order by v.version",
        (site.article_url(SEED[0].slug),),
    )
    assert versions == [
        (1, SEED[0].headline, EXTRACTOR_VERSION),
        (2, "【独自】" + SEED[0].headline, EXTRACTOR_VERSION),
        (3, SEED[0].headline, newer),
    ]
    assert scalar(db, "select mode from crawl_runs order by id desc limit 1") == "reparse"
    hits = search(archive, SearchRequest(SEED[0].headline, all_versions=True)).hits
    url = site.article_url(SEED[0].slug)
    assert sorted(hit.version for hit in hits if hit.url == url) == [1, 2, 3]  # all indexed


def test_reparse_without_an_extractor_change_changes_nothing(site, db):
    run_crawl(site.topic_url(), db)
    site.edit_article(SEED[1].slug, summary=SEED[1].summary + "（続報）")
    site.headline_in_listing = False  # headlines now only in image alt: still the same
    run_crawl(site.topic_url(), db)
    before = rows(db, "select * from changes order by id")
    result = reparse(open_archive(db), now=NOW)
    assert result.plan.empty and result.run_id is None
    assert result.pages == 2
    assert rows(db, "select * from changes order by id") == before


def test_reparse_dry_run_prints_and_writes_nothing(site, db):
    run_crawl(site.topic_url(), db)
    site.edit_article(SEED[0].slug, headline="【独自】" + SEED[0].headline)
    run_crawl(site.topic_url(), db)
    result = CliRunner().invoke(cli, ["reparse", "--db", str(db), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith(
        "2 snapshots re-read; would change: 0 edits relabelled, 0 new versions\n"
    )
    assert scalar(db, "select count(*) from changes where kind = 'reextracted'") == 0


def test_prune_keeps_the_only_evidence_of_versions(site, db):
    run_crawl(site.topic_url(), db)
    conn = __import__("sqlite3").connect(db)
    conn.execute("update fetches set fetched_at = '2020-01-01T00:00:00+00:00'")
    conn.commit()
    conn.close()
    runner = CliRunner()
    dry = runner.invoke(cli, ["prune", "--db", str(db), "--keep", "90d", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("20 snapshots older than 90d: would free ")
    assert scalar(db, "select count(*) from snapshots") == 21
    done = runner.invoke(cli, ["prune", "--db", str(db), "--keep", "90d"])
    assert "1 kept as the only evidence of a version" in done.output
    assert scalar(db, "select count(*) from snapshots") == 1
    assert scalar(db, "select count(*) from item_versions where snapshot_id is null") == 0
    gone = runner.invoke(cli, ["prune", "--db", str(db), "--keep", "90d", "--no-keep-evidence"])
    assert gone.output.startswith("1 snapshots older than 90d: freed ")
    assert scalar(db, "select count(*) from snapshots") == 0


def test_show_snapshot_round_trips_shift_jis_bytes(site, db, tmp_path):
    cards = "".join(
        f'<article class="post"><h2 class="entry-title"><a href="/articles/{a.slug}/">'
        f"{html.escape(a.headline)}</a></h2><p class='entry-summary'>{html.escape(a.summary)}"
        "</p></article>"
        for a in SEED[:5]
    )
    body = f"<html><head><meta charset='Shift_JIS'></head><body><main>{cards}</main></body></html>"
    served = body.encode("shift_jis")
    site.serve_raw("/articles/tag/nato/", served, headers={"Content-Type": "text/html"})
    run = run_crawl(site.topic_url(), db, "-s", "TOPICWATCH_ENRICH=0").run
    out = tmp_path / "page.html"
    result = CliRunner().invoke(
        cli, ["show-snapshot", str(run["id"]), "--db", str(db), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == served
    version_id = scalar(db, "select min(id) from item_versions")
    stdout = CliRunner().invoke(cli, ["show-snapshot", f"v{version_id}", "--db", str(db)])
    assert stdout.stdout_bytes == served


def test_show_snapshot_of_an_unknown_run_is_a_usage_error(site, db):
    run_crawl(site.topic_url(), db)
    result = CliRunner().invoke(cli, ["show-snapshot", "999", "--db", str(db)])
    assert result.exit_code == 2
    assert "no stored snapshot for run 999 page 1" in result.output
