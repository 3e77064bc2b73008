"""Article enrichment: one fetch per new or edited item, never for known unchanged ones."""

from __future__ import annotations

import html

from conftest import rows, run_crawl, scalar
from fixture_site import load_seed_articles, make_articles, render_article

SEED = load_seed_articles()


def article_hits(site) -> int:
    return sum(
        1
        for r in site.requests
        if r.path.startswith("/articles/") and "/tag/" not in r.path and r.status == 200
    )


def summary_only_page(cards: list[tuple[str, str]]) -> bytes:
    """A listing whose cards show no headline at all: only a link and a summary."""
    items = "".join(
        f'<li class="card"><a href="{href}"><p class="card__summary">{html.escape(summary)}'
        "</p></a></li>"
        for href, summary in cards
    )
    return (
        "<html><head><meta charset='utf-8'></head><body><main>"
        f"<ul class='topic-list'>{items}</ul></main></body></html>"
    ).encode()


def test_new_items_are_enriched_once_and_known_ones_never_again(site, db):
    first = run_crawl(site.topic_url(), db).run
    assert (first["articles_fetched"], first["articles_failed"]) == (20, 0)
    assert article_hits(site) == 20
    tags = scalar(db, "select tags from items where url = ?", (site.article_url(SEED[0].slug),))
    assert tags == '["NATO", "英国", "兵器調達"]'

    site.clear_log()
    site.add_articles(make_articles(2))
    site.edit_article(SEED[3].slug, summary=SEED[3].summary + "追記あり。")
    second = run_crawl(site.topic_url(), db).run
    assert (second["items_new"], second["items_edited"]) == (2, 1)
    assert second["articles_fetched"] == 3
    assert article_hits(site) == 3


def test_headline_missing_from_the_listing_comes_from_the_article(site, db):
    cards = [(f"/articles/{a.slug}", a.summary) for a in SEED[:5]]
    site.serve_raw("/articles/tag/nato/", summary_only_page(cards))
    run = run_crawl(site.topic_url(), db).run
    assert run["items_new"] == 5
    headlines = rows(db, "select headline, published_at from items order by id")
    assert headlines == [(a.headline, a.published_at) for a in SEED[:5]]
    assert run["headline_coverage"] == 0.0 and run["summary_coverage"] == 1.0


def test_rel_canonical_names_the_item(site, db):
    article = SEED[0]
    site.serve_raw("/p/48320/", render_article(site.base_url, article).encode())
    cards = [("/p/48320/", article.summary)] + [
        (f"/articles/{a.slug}/", a.summary) for a in SEED[1:4]
    ]
    site.serve_raw("/articles/tag/nato/", summary_only_page(cards))
    run_crawl(site.topic_url(), db)
    assert (
        scalar(db, "select count(*) from items where url = ?", (site.article_url(article.slug),))
        == 1
    )
    assert rows(db, "select alias from url_aliases") == [(f"{site.base_url}/p/48320/",)]
    # Next time the listing's short link resolves to the same item: nothing new, no fetch.
    site.clear_log()
    again = run_crawl(site.topic_url(), db, "--pages", "1").run
    assert (again["items_new"], again["items_edited"], again["articles_fetched"]) == (0, 0, 0)


def test_a_failed_article_fetch_is_recorded_but_not_fatal(site, db):
    site.fail(f"/articles/{SEED[1].slug}/", 404)
    run = run_crawl(site.topic_url(), db).run
    assert run["status"] == "ok"
    assert (run["items_new"], run["articles_fetched"], run["articles_failed"]) == (20, 19, 1)
