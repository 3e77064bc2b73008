"""A redesign (new card markup, new link forms) must produce no new items and no edits."""

from __future__ import annotations

import html

from conftest import rows, run_crawl, scalar
from fixture_site import load_seed_articles

SEED = load_seed_articles()


def cocoon_style_page(base_url: str) -> bytes:
    """The same 20 articles in a Cocoon-like theme, linked in every odd form seen in the wild."""
    host = base_url.replace("http://", "")
    forms = [
        "/articles/{slug}",
        "{base}/articles/{slug}/?utm_source=twitter&utm_medium=social",
        "//{host}/articles/{slug}/#respond",
        "{base}/articles/{slug}/?fbclid=IwAR0",
        "{base}/articles/./{slug}/",
    ]
    cards = []
    for index, article in enumerate(SEED):
        href = forms[index % len(forms)].format(slug=article.slug, base=base_url, host=host)
        cards.append(
            f'<a href="{html.escape(href)}" class="entry-card-wrap a-wrap">'
            f'<article class="entry-card"><figure class="entry-card-thumb"><img alt=""></figure>'
            f'<div class="entry-card-content"><h2 class="entry-card-title">'
            f"{html.escape(article.headline)}</h2>"
            f'<div class="entry-card-snippet">{html.escape(article.summary)}</div>'
            f'<div class="entry-card-meta"><span class="post-date">'
            f"{article.published_at[:10].replace('-', '.')}</span></div></div></article></a>"
        )
    sidebar = "".join(
        f'<li><a href="/articles/{a.slug}/">{html.escape(a.headline)}</a></li>' for a in SEED[:5]
    )
    return (
        "<html><head><meta charset='utf-8'><title>NATO</title></head><body>"
        "<header id='header'><nav><a href='/'>home</a></nav></header>"
        f"<div id='content'><main id='main'><div id='list' class='list'>{''.join(cards)}</div>"
        "</main><aside id='sidebar'><div class='widget'><h3>人気記事</h3><ul>"
        f"{sidebar}</ul></div></aside></div></body></html>"
    ).encode()


def test_a_redesign_changes_nothing(site, db):
    run_crawl(site.topic_url(), db)
    site.serve_raw("/articles/tag/nato/", cocoon_style_page(site.base_url))
    run = run_crawl(site.topic_url(), db).run
    assert run["status"] == "ok"
    assert (run["items_seen"], run["items_new"], run["items_edited"], run["items_vanished"]) == (
        20,
        0,
        0,
        0,
    )
    assert scalar(db, "select count(*) from items") == 20
    assert rows(db, "select count(*) from item_versions") == [(20,)]


def test_a_partial_break_is_visible_and_changes_nothing(site, db):
    run_crawl(site.topic_url(), db)
    page = cocoon_style_page(site.base_url).decode()
    for article in SEED:  # summaries gone from every card
        page = page.replace(html.escape(article.summary), "")
    site.serve_raw("/articles/tag/nato/", page.encode())
    run = run_crawl(site.topic_url(), db).run
    assert (run["status"], run["items_edited"], run["items_vanished"]) == ("ok", 0, 0)
    assert (run["headline_coverage"], run["summary_coverage"]) == (1.0, 0.0)


def test_a_collapsed_listing_fails_with_reason_layout(site, db):
    run_crawl(site.topic_url(), db)
    run_crawl(site.topic_url(), db, "--pages", "1")
    site.set_listing("nato", SEED[:6])
    crawl = run_crawl(site.topic_url(), db)
    assert crawl.returncode == 1
    assert (crawl.run["status"], crawl.run["reason"]) == ("failed", "layout")
    assert "under half" in crawl.run["error"]
    assert scalar(db, "select count(*) from topic_items where vanished_at is not null") == 0


def test_selector_overrides_win_over_the_heuristics(site, db):
    # Pick the sidebar on purpose: the heuristics would never take it, the config can.
    site.serve_raw("/articles/tag/nato/", cocoon_style_page(site.base_url))
    selectors = '{"item": "#sidebar li", "headline": "a", "link": "a"}'
    run = run_crawl(site.topic_url(), db, "--selectors", selectors, "-s", "TOPICWATCH_ENRICH=0").run
    assert run["items_new"] == 5
    assert rows(db, "select headline from items order by id") == [(a.headline,) for a in SEED[:5]]
