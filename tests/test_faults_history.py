"""The fault matrix, history group: ordinary site behaviours that must not falsify history.

Each row is crawled for real against the fault site, from a copy of the baseline archive
(the seed listing, 20 items), and asserts the run as the matrix states it and exactly the
changes the behaviour may make (``assert_nothing_lost``): a move is no retraction, a
partial read commits what it read, a lying rel=canonical or a widget merges nothing.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Crawl, rows, scalar
from fault_checks import (  # noqa: F401 (fixtures)
    TOPIC_PATH,
    Case,
    as_params,
    assert_nothing_lost,
    assert_outcome,
    baseline_fixture,
    case_fixture,
    crawl_argv,
    fault_env,
    fault_site_fixture,
)
from fault_matrix import rows as matrix_rows
from fault_site import HANG
from fixture_site import Article, load_seed_articles, make_articles

SEED = load_seed_articles()
FAULTS = matrix_rows("history")
Outcome = tuple[Crawl, Counter[str]]
SCENARIOS: dict[str, Callable[[Case], Outcome]] = {}
P = TOPIC_PATH
PAGE_2 = f"{P}page/2/"


def scenario(fault_id: str) -> Callable[[Callable[[Case], Outcome]], Callable[[Case], Outcome]]:
    def register(function: Callable[[Case], Outcome]) -> Callable[[Case], Outcome]:
        SCENARIOS[fault_id] = function
        return function

    return register


@pytest.mark.parametrize("fault", as_params(FAULTS))
def test_fault(fault, case):
    before = case.state()
    crawl, expected = SCENARIOS[fault.id](case)
    assert_outcome(fault, crawl)
    assert_nothing_lost(before, case.state(), expected)


def test_every_row_has_a_scenario():
    assert set(SCENARIOS) == {fault.id for fault in FAULTS}


def forty_items(case: Case) -> list[Article]:
    """Grow the topic to 40 items (two pages) and archive both pages: 20 new items."""
    listing = make_articles(20) + load_seed_articles()
    case.site.set_listing("nato", listing)
    crawl = case.crawl("--pages", "2")
    assert crawl.run["items_new"] == 20, crawl.stderr
    return listing


def position_of(case: Case, slug: str) -> int:
    return scalar(
        case.db,
        "SELECT t.last_position FROM topic_items t JOIN items i ON i.id = t.item_id"
        " WHERE i.url = ?",
        (case.site.article_url(slug),),
    )


# --------------------------------------------------------------------------- moves


@scenario("moved-up")
def _moved_up(case: Case) -> Outcome:
    listing = forty_items(case)
    bumped = listing[-1]  # the oldest item, 40th, "updated" to the top
    case.site.set_listing("nato", [bumped, *listing[:-1]])
    crawl = case.crawl()
    assert crawl.run["pages"] == 1
    assert position_of(case, bumped.slug) == 1
    return crawl, Counter(new=20)


@scenario("moved-down")
def _moved_down(case: Case) -> Outcome:
    listing = forty_items(case)
    top = listing[0]
    case.site.set_listing("nato", [*listing[1:25], top, *listing[25:]])
    crawl = case.crawl()
    assert crawl.run["pages"] == 2  # read on to look for the missing item
    assert position_of(case, top.slug) == 25
    return crawl, Counter(new=20)


# --------------------------------------------------------------------------- partial reads


def _twenty_new(case: Case) -> None:
    case.site.add_articles(make_articles(20, start=100))


def _partial(case: Case) -> Outcome:
    crawl = case.crawl()
    run = crawl.run
    assert (run["pages"], run["items_new"], run["gap_suspected"]) == (1, 20, 1), crawl.stderr[
        -3000:
    ]
    gaps = subprocess.run(
        [sys.executable, "-m", "topicwatch", "gaps", "--db", str(case.db), "--json"],
        capture_output=True, text=True, env=fault_env(), timeout=60, check=True,
    )  # fmt: skip
    assert [gap["kind"] for gap in json.loads(gaps.stdout)] == ["partial"]
    return crawl, Counter(new=20)


@scenario("later-page-robots")
def _later_page_robots(case: Case) -> Outcome:
    _twenty_new(case)
    robots = "User-agent: *\nDisallow: /wp-admin/\nDisallow: /*/page/\n"
    case.site.serve_raw("/robots.txt", robots.encode(), headers={"Content-Type": "text/plain"})
    outcome = _partial(case)
    assert case.site.hits(PAGE_2) == 0
    return outcome


@scenario("later-page-404")
def _later_page_404(case: Case) -> Outcome:
    _twenty_new(case)
    case.site.fail(PAGE_2, 404)
    return _partial(case)


@scenario("later-page-503")
def _later_page_503(case: Case) -> Outcome:
    _twenty_new(case)
    case.site.fail(PAGE_2, 503)
    return _partial(case)


# --------------------------------------------------------------------------- enrichment

BUDGET = {"TOPICWATCH_ENRICH_BUDGET": "3", "TOPICWATCH_ARTICLE_TIMEOUT": "1"}


@scenario("articles-hang")
def _articles_hang(case: Case) -> Outcome:
    arrivals = make_articles(3, start=200)
    case.site.add_articles(arrivals)
    for article in arrivals:
        case.site.deliver(f"/articles/{article.slug}/", HANG)
    crawl = case.crawl(**BUDGET)
    run = crawl.run
    assert (run["items_new"], run["articles_fetched"], run["articles_pending"]) == (3, 0, 3)
    assert "3 pending" in crawl.stderr + crawl.stdout or run["articles_pending"] == 3
    case.site.release()
    later = case.crawl(**BUDGET).run
    assert (later["articles_fetched"], later["articles_pending"]) == (3, 0)
    return crawl, Counter(new=3)


@scenario("articles-fill")
def _articles_fill(case: Case) -> Outcome:
    arrivals = make_articles(2, start=300)
    case.site.add_articles(arrivals)
    page = case.site.page_bytes(P).decode()
    for article in arrivals:  # summary-only cards: no title, no image text
        page = page.replace(f'<h3 class="p-card__title">{article.headline}</h3>', "")
        page = page.replace(f'alt="{article.headline}"', 'alt=""')
        page = page.replace(f'<h2 class="p-lead__title">{article.headline}</h2>', "")
        case.site.deliver(f"/articles/{article.slug}/", HANG)
    case.site.serve_raw(P, page.encode())
    crawl = case.crawl(**BUDGET)
    assert crawl.run["articles_pending"] == 2
    headlines = "SELECT headline FROM items WHERE url LIKE '%later-arrival-30%' ORDER BY url"
    assert rows(case.db, headlines) == [("",), ("",)]
    case.site.release()
    later = case.crawl(**BUDGET).run
    assert (later["items_filled"], later["items_edited"], later["articles_pending"]) == (2, 0, 0)
    assert rows(case.db, headlines) == [
        (a.headline,) for a in sorted(arrivals, key=lambda a: a.slug)
    ]
    return crawl, Counter(new=2, filled=2)


# --------------------------------------------------------------------------- identity


@scenario("wrong-canonical")
def _wrong_canonical(case: Case) -> Outcome:
    (arrival,) = make_articles(1, start=400)
    case.site.add_articles([arrival])
    path = f"/articles/{arrival.slug}/"
    page = case.site.page_bytes(path).decode()
    claimed = case.site.article_url(SEED[3].slug)
    page = re.sub(
        r'<link rel="canonical" href="[^"]*">', f'<link rel="canonical" href="{claimed}">', page
    )
    case.site.serve_raw(path, page.encode())
    crawl = case.crawl()
    assert "rel=canonical" in crawl.stderr and "ignored" in crawl.stderr
    assert rows(case.db, "SELECT alias FROM url_aliases") == []
    return crawl, Counter(new=1)


@scenario("alias-revised")
def _alias_revised(case: Case) -> Outcome:
    (arrival,) = make_articles(1, start=500)
    case.site.add_articles([arrival])
    conn = sqlite3.connect(case.db)  # an older topicwatch merged it by a wrong canonical
    with conn:
        conn.execute(
            "INSERT INTO url_aliases (alias, url, seen_at) VALUES (?, ?, 'x')",
            (case.site.article_url(arrival.slug), case.site.article_url(SEED[3].slug)),
        )
    conn.close()
    crawl = case.crawl()
    assert rows(case.db, "SELECT alias FROM url_aliases") == []
    assert "revised" in crawl.stderr
    return crawl, Counter(new=1)


@scenario("session-ids")
def _session_ids(case: Case) -> Outcome:
    page = case.site.page_bytes(P).decode()
    links = re.findall(r'href="(/articles/(?!tag/)[^"/]+)/?"', page)
    for n, link in enumerate(sorted(set(links), key=len, reverse=True)):
        token = secrets.token_hex(8)
        tail = f"/?PHPSESSID={token}" if n % 2 else f";jsessionid={token}/"
        page = re.sub(rf'href="{re.escape(link)}/?"', f'href="{link}{tail}"', page)
    case.site.serve_raw(P, page.encode())
    crawl = case.crawl()
    assert crawl.run["items_new"] == 0
    return crawl, Counter()


@scenario("session-paths")
def _session_paths(case: Case) -> Outcome:
    """ASP.NET cookieless sessions (``/(S(token))/`` before every path), new each run, with
    click ids and a newline a template left inside one href: one identity, and known as
    such, not rescued as identity drift."""
    page = case.site.page_bytes(P).decode()
    for run in (1, 2):
        token = secrets.token_hex(12)
        served = re.sub(r'href="(/articles/(?!tag/)[^"]+)"', rf'href="/(S({token}))\1"', page)
        if run == 2:
            served = re.sub(
                r'href="([^"]+?/articles/)([^"/]+)/"',
                r'href="\1\n\2/?utm_source=x&amp;fbclid=y&amp;gclid=z&amp;_ga=1.2"',
                served,
                count=3,
            )
        assert served.count(f"/(S({token}))/articles/") >= 20
        case.site.serve_raw(P, served.encode())
        crawl = case.crawl(TOPICWATCH_ENRICH="false")
        assert (crawl.run["items_new"], crawl.run["items_seen"]) == (0, 20), crawl.stderr
    assert "identity drift" not in crawl.stderr
    assert rows(case.db, "SELECT alias FROM url_aliases") == []
    return crawl, Counter()


@scenario("directory-index")
def _directory_index(case: Case) -> Outcome:
    """Every link names its directory index (``/articles/slug/index.html``) this run."""
    page = case.site.page_bytes(P).decode()
    served = re.sub(r'href="(/articles/(?!tag/)[^"]+?)/?"', r'href="\1/index.html"', page)
    case.site.serve_raw(P, served.encode())
    crawl = case.crawl(TOPICWATCH_ENRICH="false")
    assert (crawl.run["items_new"], crawl.run["items_seen"]) == (0, 20), crawl.stderr
    assert "identity drift" not in crawl.stderr
    return crawl, Counter()


@scenario("sid-article-ids")
def _sid_article_ids(case: Case) -> Outcome:
    """A site whose articles are ``/story.php?sid=<n>`` (a short number, not a session)."""
    page = case.site.page_bytes(P).decode()
    slugs = list(dict.fromkeys(re.findall(r'href="/articles/((?!tag/)[^"/]+)/"', page)))
    for n, slug in enumerate(slugs):
        page = page.replace(f'href="/articles/{slug}/"', f'href="/story.php?sid={1000 + n}"')
    case.site.serve_raw("/stories/", page.encode())
    crawl = case.crawl(url=case.site.base_url + "/stories/", TOPICWATCH_ENRICH="false")
    stored = rows(case.db, "SELECT url FROM items WHERE url LIKE '%/story.php%' ORDER BY url")
    assert [url.rsplit("=", 1)[1] for (url,) in stored] == [str(1000 + n) for n in range(20)]
    return crawl, Counter(new=20)


@scenario("identity-drift")
def _identity_drift(case: Case) -> Outcome:
    page = case.site.page_bytes(P).decode()
    page = re.sub(r'href="(/articles/(?!tag/)[^"]+?)/?"', r'href="\1/?v=2"', page)
    case.site.serve_raw(P, page.encode())
    no_canonical = {"TOPICWATCH_ENRICH": "false"}  # no article page names the old URL
    crawl = case.crawl(**no_canonical)
    assert "identity drift" in crawl.stderr
    assert scalar(case.db, "SELECT count(*) FROM url_aliases WHERE source = 'drift'") == 20
    assert case.crawl(**no_canonical).run["items_new"] == 0  # the next run still knows them
    return crawl, Counter()


# --------------------------------------------------------------------------- the guard


def widget_page(case: Case, *, marked: bool) -> str:
    """The topic page with its list gone and a site-wide 「新着記事」 list of 20: 18 from
    other topics (dated before the topic's last run) and 2 of the topic's own."""
    page = case.site.page_bytes(P).decode()
    page = re.sub(r'<section class="p-(lead|topic-list)">.*?</section>', "", page, flags=re.S)
    foreign = make_articles(18, start=600, day="2026-01-20")
    widget = [*foreign[:3], SEED[0], *foreign[3:6], SEED[1], *foreign[6:]]
    tag = "li" if marked else "div"
    items = "".join(
        f'<{tag} class="new-item"><a href="/articles/{a.slug}/">'
        f'<span class="new-item__title">{a.headline}</span></a>'
        f'<time datetime="{a.published_at}">{a.published_at[:10]}</time></{tag}>'
        for a in widget
    )
    if marked:
        block = (
            '<section class="widget widget-new"><h2 class="widget-title">新着記事</h2>'
            f"<ul>{items}</ul></section>"
        )
        return page.replace('<aside class="l-sidebar">', f'<aside class="l-sidebar">{block}')
    return page.replace('<main class="l-main">', f'<main class="l-main"><div>{items}</div>')


@scenario("widget-only")
def _widget_only(case: Case) -> Outcome:
    case.site.serve_raw(P, widget_page(case, marked=True).encode())
    return case.crawl(), Counter()


@scenario("widget-unmarked")
def _widget_unmarked(case: Case) -> Outcome:
    page = widget_page(case, marked=False)
    assert '<main class="l-main"><div>' in page
    case.site.serve_raw(P, page.encode())
    crawl = case.crawl()
    assert crawl.run["first_page_items"] is None or crawl.run["reason"] == "layout"
    return crawl, Counter()


@scenario("widget-last-known")
def _widget_last_known(case: Case) -> Outcome:
    page = widget_page(case, marked=False)
    own = re.search(rf'<div class="new-item"><a href="/articles/{SEED[1].slug}/">.*?</div>', page)
    assert own is not None
    page = page.replace(own.group(0), "")
    first = re.search(rf'<div class="new-item"><a href="/articles/{SEED[0].slug}/">.*?</div>', page)
    assert first is not None  # move the topic's item to the end of the widget
    page = page.replace(first.group(0), "").replace(
        "</div></main>", first.group(0) + "</div></main>"
    )
    page = page.replace('<main class="l-main"><div>', '<main class="l-main"><div>', 1)
    case.site.serve_raw(P, page.encode())
    return case.crawl(), Counter()


@scenario("burst-confirmed")
def _burst_confirmed(case: Case) -> Outcome:
    case.site.add_articles(make_articles(25, start=700))
    crawl = case.crawl()
    assert crawl.run["pages"] == 2
    return crawl, Counter(new=25)


@scenario("turnover-newer")
def _turnover_newer(case: Case) -> Outcome:
    case.site.set_listing("nato", load_seed_articles()[:10])
    case.crawl()  # the topic now lists 10; the other 10 scrolled off (no retraction)
    case.site.set_listing("nato", make_articles(10, start=720, day="2026-02-20"))
    crawl = case.crawl()
    assert crawl.run["items_vanished"] == 0
    return crawl, Counter(new=10)


@scenario("retagged-older")
def _retagged_older(case: Case) -> Outcome:
    listing = load_seed_articles()
    older = make_articles(6, start=740, day="2026-01-05")  # dated before every seed item
    case.site.set_listing("nato", [*listing[:14], *older])
    crawl = case.crawl()
    assert (crawl.run["items_new"], crawl.run["items_vanished"]) == (6, 0)
    return crawl, Counter(new=6)


@scenario("retraction-beside-bump")
def _retraction_beside_bump(case: Case) -> Outcome:
    listing = forty_items(case)
    retracted, bumped = listing[5], listing[6]
    rest = [a for a in listing if a.slug not in (retracted.slug, bumped.slug)]
    case.site.set_listing("nato", [bumped, *rest])
    crawl = case.crawl()
    gone = rows(case.db, "SELECT url FROM retractions")
    assert gone == [(case.site.article_url(retracted.slug),)]
    return crawl, Counter(new=20, vanished=1)


@scenario("unpinned-page2-fails")
def _unpinned_page2_fails(case: Case) -> Outcome:
    listing = forty_items(case)
    pinned = listing[0]
    case.site.set_listing("nato", [*listing[1:25], pinned, *listing[25:]])
    case.site.fail(PAGE_2, 404)
    crawl = case.crawl()
    assert crawl.run["items_vanished"] == 0
    return crawl, Counter(new=20)


@scenario("page2-redirect")
def _page2_redirect(case: Case) -> Outcome:
    _twenty_new(case)
    case.site.serve_raw(PAGE_2, b"", status=302, headers={"Location": "/"})
    case.site.serve_raw("/", case.site.page_bytes("/articles/tag/nato/"))  # "the top page"
    crawl = case.crawl()
    assert crawl.run["items_new"] == 20
    return crawl, Counter(new=20)


@scenario("canonical-conflict")
def _canonical_conflict(case: Case) -> Outcome:
    arrivals = make_articles(3, start=760)
    case.site.add_articles(arrivals)
    claimed = case.site.article_url("one-story-for-all")
    for article in arrivals:
        path = f"/articles/{article.slug}/"
        page = case.site.page_bytes(path).decode()
        page = re.sub(
            r'<link rel="canonical" href="[^"]*">', f'<link rel="canonical" href="{claimed}">', page
        )
        case.site.serve_raw(path, page.encode())
    crawl = case.crawl()
    assert crawl.run["items_new"] == 3 and rows(case.db, "SELECT alias FROM url_aliases") == []
    return crawl, Counter(new=3)


@scenario("drift-many-pages")
def _drift_many_pages(case: Case) -> Outcome:
    listing = make_articles(80, start=800) + load_seed_articles()
    case.site.set_listing("nato", listing)
    first = case.crawl("--max-pages", "5")
    assert first.run["items_new"] == 80, first.stderr
    pages = {}
    for n in range(1, 6):
        path = P if n == 1 else f"{P}page/{n}/"
        page = case.site.page_bytes(path).decode()
        token = secrets.token_hex(16)
        page = re.sub(r'href="(/articles/(?!tag/)[^"]+?)/?"', rf'href="\1/?session={token}"', page)
        pages[path] = page
        case.site.serve_raw(path, page.encode())
    crawl = case.crawl("--max-pages", "5", TOPICWATCH_ENRICH="false")
    assert crawl.run["items_new"] == 0, crawl.stderr
    return crawl, Counter(new=80)


@scenario("alternating")
def _alternating(case: Case) -> Outcome:
    target, original = SEED[2], SEED[2].headline
    variant = original + "【更新】英国も参加へ"
    crawls = []
    for headline in (variant, original, variant, original):
        case.site.edit_article(target.slug, headline=headline)
        crawls.append(case.crawl())
    edited = [crawl.run["items_edited"] for crawl in crawls]
    assert edited == [1, 0, 0, 0]
    assert rows(case.db, "SELECT headline FROM items WHERE url = ?",
                (case.site.article_url(target.slug),)) == [(original,)]  # fmt: skip
    return crawls[-1], Counter(edited=1, alternating=1)


# --------------------------------------------------------------------------- order, reparse


def crawl_with_clock(case: Case, days: float) -> Crawl:
    """``topicwatch crawl`` in a child whose clock reads ``days`` off (negative: behind)."""
    destination = datetime.now(UTC) + timedelta(days=days)
    argv = crawl_argv(case.site.topic_url(), case.db)[3:]  # after "python -m topicwatch"
    code = (
        "import sys, time_machine, datetime\n"
        f"with time_machine.travel(datetime.datetime.fromisoformat({destination.isoformat()!r}),"
        " tick=True):\n"
        "    from topicwatch.cli import cli\n"
        f"    cli({argv!r}, prog_name='topicwatch')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=fault_env(), timeout=120
    )
    return Crawl(done.returncode, done.stdout, done.stderr)


@scenario("clock-back")
def _clock_back(case: Case) -> Outcome:
    listing = forty_items(case)
    first = crawl_with_clock(case, -30)
    assert first.run["status"] == "ok", first.stderr
    retracted = listing[5]
    case.site.remove_article(retracted.slug)
    crawl = crawl_with_clock(case, -29.9)
    assert crawl.run["items_vanished"] == 1, crawl.stderr
    return crawl, Counter(new=20, vanished=1)


@scenario("reparse-agrees")
def _reparse_agrees(case: Case) -> Outcome:
    page = case.site.page_bytes(P).decode()
    card = re.search(
        rf'<article class="p-card">(?:(?!</article>).)*/{SEED[5].slug}/.*?</article>', page
    )
    assert card is not None
    twin = card.group(0).replace(SEED[5].summary, "別の要約が並んでいる。" * 8)
    page = page.replace(card.group(0), card.group(0) + twin)
    case.site.serve_raw(P, page.encode())
    crawl = case.crawl()
    done = subprocess.run(
        [sys.executable, "-m", "topicwatch", "reparse", "--db", str(case.db), "--dry-run"],
        capture_output=True, text=True, env=fault_env(), timeout=120, check=True,
    )  # fmt: skip
    assert "would change: 0 edits relabelled, 0 new versions" in done.stdout, done.stdout
    return crawl, Counter()
