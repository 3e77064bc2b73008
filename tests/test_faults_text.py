"""The fault matrix, page text: listings whose text is volatile, mislabelled, broken or
hostile, each crawled for real against the fault site.

Each case starts from a copy of one baseline archive (the seed listing, crawled once per
module) and a site serving that listing with the fault added, so any change a run records
beyond the row's own is a false one.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from conftest import Crawl, rows
from fault_checks import (  # noqa: F401 (fixtures)
    TOPIC_PATH,
    Case,
    as_params,
    assert_nothing_lost,
    assert_outcome,
    baseline_fixture,
    case_fixture,
    fault_site_fixture,
)
from fault_matrix import rows as matrix_rows
from fixture_site import load_seed_articles
from hostile_pages import SUMMARY, hostile_cards

from topicwatch.crawler.extract import extract_listing
from topicwatch.crawler.extracted import SUMMARY_CAP

SEED = load_seed_articles()
FAULTS = matrix_rows("text")
P = TOPIC_PATH
Scenario = Callable[[Case], tuple[Crawl, Counter[str]]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fault_id: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
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


def page(case: Case) -> str:
    return case.site.page_bytes(P).decode("utf-8")


def card_of(text: str, slug: str) -> str:
    match = re.search(rf'<article class="p-card">(?:(?!</article>).)*/{slug}/.*?</article>', text)
    assert match is not None
    return match.group(0)


# --------------------------------------------------------------------------- volatile text


TITLE = re.compile(r'(<h[23] class="p-(?:card|lead)__title">)(.*?)(</h[23]>)')
EXCERPT = re.compile(r'(<p class="p-(?:card|lead)__excerpt">)(.*?)(</p>)')


def volatile(text: str, run: int) -> str:
    """Every headline and summary with fragments that change between runs (``run``)."""
    shapes = [
        "<span>{h}</span><span>{m}分前</span>",
        "<span>NEW</span><span>{h}</span>" if run == 1 else "<span>{h}</span>",
        "{h} <small>{v} views</small>",
        "{h}<span>閲覧数 {v}</span>",
        "{h} NEW!" if run == 1 else "【UP】{h}",
    ]
    numbers = count()

    def title(match: re.Match[str]) -> str:
        n = next(numbers)
        shape = shapes[n % len(shapes)].format(h=match[2], m=n + 10 * run, v=1000 + 7 * n * run)
        return match[1] + shape + match[3]

    text = TITLE.sub(title, text)
    return EXCERPT.sub(lambda m: f"{m[1]}{m[2]}<span>👁 {120 + run}</span>{m[3]}", text)


@scenario("volatile-fragments")
def _volatile_fragments(case: Case) -> tuple[Crawl, Counter[str]]:
    text = page(case)
    for run in (1, 2):
        served = volatile(text, run)
        assert served.count("分前") == 5 and served.count("👁") == 21
        case.site.serve_raw(P, served.encode())
        crawl = case.crawl()
        assert crawl.returncode == 0 and crawl.run["items_seen"] == 20, crawl.stderr
    return crawl, Counter()


def _wide(number: int) -> str:
    """``number`` in full-width digits with a full-width thousands comma (１，２３４)."""
    return f"{number:,}".translate(str.maketrans("0123456789,", "０１２３４５６７８９，"))


def volatile_shapes(text: str, run: int) -> str:
    """Headlines and summaries with fragments of other forms than :func:`volatile`'s: other
    units and widths, counting nouns, prefixes, badges, reading times, each in an element of
    its own and changing between runs; and one headline that gains a real year."""
    shapes = [
        "<span>{h}</span><span>{y}年前</span>",
        "{h} <small>Updated {m} hours ago</small>",
        "<span>ＮＥＷ！</span>{h}" if run == 1 else "<span>速報</span>{h}",
        "{h}<span>{v:,}回再生</span>",
        "{h} <span>{k}k views</span>",
        "<span>PR</span>{h}" if run == 1 else "{h}<span>【ＰＲ】</span>",
        "{h} <span>{m} min read</span>",
        "<span>{h}</span><span>{w}時間前</span>"
        if run == 1
        else "<span>{h}</span><span>数時間前</span>",
        "{h}<span>再生回数 {v:,}</span>",
        "<span>{h}</span> <span>いいね！ {m}</span>",
    ]
    numbers = count()

    def title(match: re.Match[str]) -> str:
        n = next(numbers)
        shape = shapes[n % len(shapes)]
        if n == 11:
            shape = "{h} 2024年"  # a real year at the end: an edit, and it stays
        values = {"h": match[2], "y": n + run, "m": n + 3 * run, "v": 1000 + 7 * n * run,
                  "k": f"{run}.{n % 10}", "w": _wide(n + run)}  # fmt: skip
        return match[1] + shape.format(**values) + match[3]

    text = TITLE.sub(title, text)
    return EXCERPT.sub(
        lambda m: f"{m[1]}{m[2]}<span>閲覧数：{_wide(1200 + run)}</span>{m[3]}", text
    )


@scenario("volatile-shapes")
def _volatile_shapes(case: Case) -> tuple[Crawl, Counter[str]]:
    text = page(case)
    for run in (1, 2):
        served = volatile_shapes(text, run)
        assert served.count("年前") == 3 and served.count("閲覧数：") == 21
        case.site.serve_raw(P, served.encode())
        crawl = case.crawl()
        assert crawl.returncode == 0 and crawl.run["items_seen"] == 20, crawl.stderr
    headlines = {h for (h,) in rows(case.db, "SELECT headline FROM items")}
    year = next(h for h in headlines if h.endswith(" 2024年"))
    assert headlines == {a.headline for a in SEED} - {year.removesuffix(" 2024年")} | {year}
    return crawl, Counter(edited=1)


def invisible_and_decorated(text: str, run: int) -> str:
    """Headlines with what a theme adds and drops between runs without a visible edit:
    soft hyphens and zero-width characters inside, decorated or colon badges before."""
    shapes = [
        "{a}&shy;{b}", "{a}&#8203;{b}", "&#8206;{a}{b}", "<span>★NEW★</span>{a}{b}",
        "速報：{a}{b}", "<span>[Updated]</span> {a}{b}", "■速報■{a}{b}",
        "<span>UPDATE:</span> {a}{b}",
    ]  # fmt: skip
    numbers = count()

    def title(match: re.Match[str]) -> str:
        n = next(numbers)
        shape = shapes[(n + run) % len(shapes)] if (n + run) % 3 else "{a}{b}"
        half = len(match[2]) // 2
        return match[1] + shape.format(a=match[2][:half], b=match[2][half:]) + match[3]

    return TITLE.sub(title, text)


@scenario("invisible-and-decorated")
def _invisible_and_decorated(case: Case) -> tuple[Crawl, Counter[str]]:
    text = page(case)
    for run in (1, 2):
        served = invisible_and_decorated(text, run)
        assert served.count("&shy;") >= 2 and served.count("速報：") >= 2
        case.site.serve_raw(P, served.encode())
        crawl = case.crawl()
        assert crawl.returncode == 0 and crawl.run["items_seen"] == 20, crawl.stderr
    return crawl, Counter()


def annotated(text: str, run: int) -> str:
    """Run 1: every headline with furigana over its first characters and a hidden span
    (a theme's toggled text); later runs: the plain headlines."""
    if run > 1:
        return text

    def title(match: re.Match[str]) -> str:
        base, rest = match[2][:2], match[2][2:]
        ruby = f"<ruby>{base}<rp>(</rp><rt>よみ</rt><rp>)</rp></ruby>"
        hidden = '<span hidden>速報版</span><span style="display: none">非表示</span>'
        return match[1] + hidden + ruby + rest + match[3]

    return TITLE.sub(title, text)


@scenario("furigana-hidden")
def _furigana_hidden(case: Case) -> tuple[Crawl, Counter[str]]:
    text = page(case)
    for run in (1, 2):
        served = annotated(text, run)
        case.site.serve_raw(P, served.encode())
        crawl = case.crawl()
        assert crawl.returncode == 0 and crawl.run["items_seen"] == 20, crawl.stderr
    assert served == text and "<rt>" in annotated(text, 1)
    return crawl, Counter()


def spelled(text: str, run: int) -> str:
    """Three headlines edited once (run 1), then the same texts as another table or a
    smart-quotes filter spells them (run 2): 〜/～, “”/"", ―/—, －/−."""
    forms = [("{h}（東京〜大阪）", "{h}（東京～大阪）"), ("“{h}”", '"{h}"'),
             ("{h}―気温－５度", "{h}—気温−5度")]  # fmt: skip
    numbers = count()

    def title(match: re.Match[str]) -> str:
        n = next(numbers) - 2  # past the lead and the card repeating it: three items
        if not 0 <= n < len(forms):
            return match[0]
        return match[1] + forms[n][run - 1].format(h=match[2]) + match[3]

    return TITLE.sub(title, text)


@scenario("spelling-variants")
def _spelling_variants(case: Case) -> tuple[Crawl, Counter[str]]:
    text = page(case)
    for run in (1, 2):
        case.site.serve_raw(P, spelled(text, run).encode())
        crawl = case.crawl()
        assert crawl.returncode == 0 and crawl.run["items_seen"] == 20, crawl.stderr
    assert crawl.run["items_edited"] == 0
    return crawl, Counter(edited=3)


# --------------------------------------------------------------------------- mislabelled


@scenario("mislabelled-stray-bytes")
def _mislabelled_stray_bytes(case: Case) -> tuple[Crawl, Counter[str]]:
    body = case.site.page_bytes(P)
    summary = SEED[3].summary.encode()
    assert body.count(summary) == 1
    body = body.replace(b"</head>", b"<!-- \xff -->\n</head>", 1)
    body = body.replace(summary, summary[:12] + b"\x81" + summary[12:])
    case.site.serve_raw(P, body, headers={"Content-Type": "text/html; charset=Shift_JIS"})
    crawl = case.crawl()
    stored = dict(rows(case.db, "SELECT url, headline FROM items"))
    assert sorted(stored.values()) == sorted(article.headline for article in SEED)
    return crawl, Counter()


NEW_HEADLINE = "北極圏の新たな監視網、加盟国が合意した"
MISLABELLED = [  # (codec of the bytes, label in the header, bad bytes added)
    ("euc_jp", "windows-1252", b""),
    ("cp932", "ISO-8859-1", b""),
    ("euc_jp", "Shift_JIS", b""),
    ("cp932", "EUC-JP", b""),
    ("euc_jp", "UTF-8", b"\xff\xff\xff"),
]


@scenario("mislabelled-scored")
def _mislabelled_scored(case: Case) -> tuple[Crawl, Counter[str]]:
    """Every mislabelling of the seed listing, crawled one after another: no edits, and a
    new item's text archived as published (no mojibake check protects a new item)."""
    text = page(case)
    first = card_of(text, SEED[0].slug)
    fresh = first.replace(SEED[0].slug, "scored-new").replace(SEED[0].headline, NEW_HEADLINE)
    text = text.replace(first, fresh + first)
    for codec, label, bad in MISLABELLED:
        body = text.encode(codec, errors="xmlcharrefreplace")
        body = body.replace(b"</head>", b"<!-- " + bad + b" -->\n</head>", 1)
        assert SEED[0].headline not in body.decode(label, errors="replace")  # a lying label
        case.site.serve_raw(P, body, headers={"Content-Type": f"text/html; charset={label}"})
        crawl = case.crawl()
        assert crawl.run["items_seen"] == 21, (label, crawl.stderr)
    stored = {h for (h,) in rows(case.db, "SELECT headline FROM items")}
    assert stored == {article.headline for article in SEED} | {NEW_HEADLINE}
    return crawl, Counter(new=1)


# --------------------------------------------------------------------------- bad cards


def bad_cards(text: str, base_url: str) -> str:
    """Two cards with unreadable dates, and a JSON-LD list whose third headline ends in a
    lone surrogate (as a CMS cutting a string inside an emoji writes it)."""
    for article, date in ((SEED[4], "1000000日前"), (SEED[7], "9" * 5000 + "日前")):
        card = card_of(text, article.slug)
        time_element = re.search(r"<time .*?</time>", card)
        assert time_element is not None
        text = text.replace(
            card, card.replace(time_element[0], f'<span class="p-card__date">{date}</span>')
        )
    elements = [
        {"url": f"{base_url}/articles/{a.slug}/", "headline": a.headline + "\ud800" * (n == 2),
         "description": a.summary} | ({"datePublished": a.published_at} if n not in (4, 7) else {})
        for n, a in enumerate(SEED)
    ]  # fmt: skip
    block = json.dumps({"@context": "https://schema.org", "@type": "ItemList",
                        "itemListElement": elements})  # fmt: skip
    assert "\\ud800" in block
    return text.replace("</head>", f'<script type="application/ld+json">{block}</script></head>')


@scenario("bad-card-fields")
def _bad_card_fields(case: Case) -> tuple[Crawl, Counter[str]]:
    served = bad_cards(page(case), case.site.base_url)
    read = extract_listing(served, case.site.topic_url(), fetched_at=datetime.now(UTC))
    dropped = {entry.url.split("/")[-2]: entry.cleaned for entry in read.entries if entry.cleaned}
    assert dropped == {SEED[2].slug: ("headline",), SEED[4].slug: ("published_at",),
                       SEED[7].slug: ("published_at",)}  # fmt: skip
    assert read.cleaned == 3
    case.site.serve_raw(P, served.encode())
    crawl = case.crawl()
    assert (crawl.run["items_seen"], crawl.run["fields_cleaned"]) == (20, 3)
    return crawl, Counter()


def foreign_things(base_url: str) -> str:
    """A JSON-LD block as SEO plugins write them: the topic's 20 articles (values in their
    other JSON-LD shapes), with the site's breadcrumbs, publisher, site and authors in
    ItemList-shaped lists beside them, and elements whose URL is junk."""

    def url(slug: str) -> str:
        return f"{base_url}/articles/{slug}/"

    shapes = [
        lambda a: {"url": url(a.slug), "name": a.headline},
        lambda a: {"item": {"@type": "NewsArticle", "@id": url(a.slug),
                            "headline": {"@value": a.headline, "@language": "ja"}}},
        lambda a: {"url": {"@id": url(a.slug)}, "name": [a.headline],
                   "@type": "https://schema.org/BlogPosting"},
    ]  # fmt: skip
    articles = [
        {"@type": "ListItem", "position": n + 1} | shapes[n % 3](a) for n, a in enumerate(SEED)
    ]
    others = [
        {"@type": "ListItem", "item": {"@type": kind, "url": f"{base_url}/{path}/", "name": name}}
        for kind, path, name in [("Person", "people/yamada", "山田太郎"),
                                 ("Organization", "org/novaist", "ノヴァイスト"),
                                 ("WebSite", "site", "ノヴァイスト"),
                                 ("schema:Person", "people/suzuki", "鈴木花子")]
    ] + [
        {"@type": "ListItem", "url": "/articles/broken-\ud800/", "name": "壊れたURL"},
        {"@type": "ListItem", "url": {"nested": True}, "name": "URLなし"},
        {"@type": "ListItem", "url": 12345, "name": "数字のURL"},
    ]  # fmt: skip
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "BreadcrumbList", "itemListElement": [
            {"@type": "ListItem", "item": {"@id": f"{base_url}/news/", "name": "ニュース"}},
            {"@type": "ListItem", "item": {"@id": f"{base_url}/news/world/", "name": "国際"}}]},
        {"@type": ["ItemList", "BreadcrumbList"], "itemListElement": [
            {"@type": "ListItem", "item": f"{base_url}/category/world/", "name": "国際"},
            {"@type": "ListItem", "item": f"{base_url}/world-news/", "name": "世界"}]},
        {"@type": "ItemList", "itemListElement": articles + others},
    ]}  # fmt: skip
    block = json.dumps(graph)  # the lone surrogate escaped, as a CMS writes it
    assert "\\ud800" in block
    return f'<script type="application/ld+json">{block}</script>'


@scenario("jsonld-foreign-things")
def _jsonld_foreign_things(case: Case) -> tuple[Crawl, Counter[str]]:
    served = page(case).replace("</head>", foreign_things(case.site.base_url) + "</head>", 1)
    read = extract_listing(served, case.site.topic_url(), fetched_at=datetime.now(UTC))
    assert read.method == "json-ld" and len(read.entries) == 20
    case.site.serve_raw(P, served.encode())
    crawl = case.crawl()
    assert (crawl.run["items_seen"], crawl.run["fields_cleaned"]) == (20, 3), crawl.stderr
    return crawl, Counter()


DATE_FORMS = {  # the date text a theme prints (no machine-readable date), and its reading
    "dated-wide": ("２０２６年１２月１日", "2026-12-01T00:00:00+09:00"),
    "dated-years": ("3年前", ""),  # relative: read against the fetch time, checked below
    "dated-english": ("Updated 3 hours ago", ""),
}


@scenario("dates-other-forms")
def _dates_other_forms(case: Case) -> tuple[Crawl, Counter[str]]:
    """New cards dated only in text, in full-width digits, in years ago, in English."""
    text = page(case)
    first = card_of(text, SEED[0].slug)
    for slug, (date, _) in DATE_FORMS.items():
        card = first.replace(SEED[0].slug, slug).replace(SEED[0].headline, f"{slug}の見出し")
        card = re.sub(r"<time .*?</time>", f'<span class="p-card__date">{date}</span>', card)
        text = text.replace(first, card + first)
    case.site.serve_raw(P, text.encode())
    started = datetime.now(UTC)
    crawl = case.crawl()
    dates = dict(rows(case.db, "SELECT url, published_at FROM items WHERE url LIKE '%/dated-%'"))
    read = {url.split("/")[-2]: datetime.fromisoformat(iso) for url, iso in dates.items() if iso}
    assert read["dated-wide"].isoformat() == DATE_FORMS["dated-wide"][1]
    assert abs(started - read["dated-years"] - timedelta(days=3 * 365)) < timedelta(minutes=5)
    assert abs(started - read["dated-english"] - timedelta(hours=3)) < timedelta(minutes=5)
    return crawl, Counter(new=3)


# --------------------------------------------------------------------------- hostile text


@scenario("hostile-text")
def _hostile_text(case: Case) -> tuple[Crawl, Counter[str]]:
    text = page(case)
    first = card_of(text, SEED[0].slug)
    served = text.replace(first, first + "".join(hostile_cards())).encode()
    assert 6_000_000 < len(served) < 10_000_000  # under DOWNLOAD_MAXSIZE
    case.site.serve_raw(P, served)
    started = time.monotonic()
    crawl = case.crawl()
    assert time.monotonic() - started < 90, "a hostile page took minutes"
    stored = rows(
        case.db,
        "SELECT url, headline, length(summary) FROM items WHERE url LIKE '%/hostile-%'",
    )
    summaries = {url.split("/")[-2]: (headline, size) for url, headline, size in stored}
    assert summaries["hostile-ellipsis"] == ("見出し", SUMMARY_CAP)  # cut to its cap
    assert summaries["hostile-labels"] == ("見出し", len(SUMMARY))  # 100,000 badges dropped
    assert set(summaries) == {"hostile-ellipsis", "hostile-labels", "hostile-digits",
                              "hostile-overflow"}  # fmt: skip
    cut = "SELECT v.truncated FROM item_versions v JOIN items i ON i.id = v.item_id WHERE i.url = ?"
    assert rows(case.db, cut, (case.site.article_url("hostile-ellipsis"),)) == [("summary",)]
    assert crawl.run["fields_cleaned"] >= 1
    return crawl, Counter(new=4)
