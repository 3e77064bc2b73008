"""JSON-LD ItemLists (crawler.structured): only article-like things become entries, values
are read by their JSON-LD shape, and one junk element never costs the page."""

from __future__ import annotations

import json
from typing import Any

import pytest

from topicwatch.crawler.extract import extract_listing

BASE = "http://127.0.0.1:8000/articles/tag/nato/"


def entries(*elements: Any, kind: Any = "ItemList") -> list[tuple[str, str]]:
    block = json.dumps({"@context": "https://schema.org", "@type": kind,
                        "itemListElement": list(elements)})  # fmt: skip
    script = f'<script type="application/ld+json">{block}</script>'
    page = f"<html><head>{script}</head><body></body></html>"
    return [(e.url.removeprefix("http://127.0.0.1:8000"), e.headline)
            for e in extract_listing(page, BASE).entries]  # fmt: skip


def thing(kind: Any, path: str, name: str = "見出し") -> dict[str, Any]:
    return {"@type": "ListItem", "item": {"@type": kind, "url": path, "name": name}}


@pytest.mark.parametrize(
    "kind",
    ["Person", "Organization", "NewsMediaOrganization", "WebSite", "BreadcrumbList", "ImageObject",
     "Place", "Event", "Product", "https://schema.org/Person", "schema:Organization", ["Person"]],
)  # fmt: skip
def test_things_that_are_no_articles_are_no_entries(kind):
    assert entries(thing(kind, "/people/yamada/"), thing("NewsArticle", "/articles/a/")) == [
        ("/articles/a/", "見出し")
    ]


@pytest.mark.parametrize(
    "kind",
    ["NewsArticle", "Article", "ReportageNewsArticle", "BlogPosting", "LiveBlogPosting",
     "Report", "WebPage", "CreativeWork", "http://schema.org/NewsArticle", ["Article", "Thing"]],
)  # fmt: skip
def test_article_like_things_are_entries(kind):
    assert entries(thing(kind, "/articles/a/")) == [("/articles/a/", "見出し")]


@pytest.mark.parametrize("kind", ["BreadcrumbList", ["ItemList", "BreadcrumbList"]])
def test_breadcrumbs_are_no_listing(kind):
    crumb = {"@type": "ListItem", "item": {"@id": "/articles/world/", "name": "国際"}}
    assert entries(crumb, kind=kind) == []


@pytest.mark.parametrize(
    "element",
    [
        {"url": {"@id": "/articles/a/"}, "name": {"@value": "見出し", "@language": "ja"}},
        {"url": ["/articles/a/", "/articles/b/"], "name": ["見出し", "Headline"]},
        {"item": {"@id": "/articles/a/", "headline": [{"@value": "見出し"}]}},
    ],
)
def test_values_are_read_by_their_json_ld_shape(element):
    assert entries({"@type": "ListItem", **element}) == [("/articles/a/", "見出し")]


@pytest.mark.parametrize(
    "url",
    ["/articles/x-\ud800/", "/articles/x/?p=\udfff", "http://127.0.0.1\ud800:8000/articles/x/",
     {"nested": {"deeper": True}}, 12345, True, None, ["\ud800"]],
)  # fmt: skip
def test_a_junk_url_drops_its_element_alone(url):
    good = {"@type": "ListItem", "url": "/articles/ok/", "name": "OK"}
    assert entries({"@type": "ListItem", "url": url, "name": "壊れた"}, good) == [
        ("/articles/ok/", "OK")
    ]


def test_non_text_values_are_no_text():
    element = {"@type": "ListItem", "url": "/articles/a/", "name": {"x": 1}, "description": True}
    assert entries(element) == [("/articles/a/", "")]
    assert entries({"@type": "ListItem", "url": "/articles/b/", "name": 2024}) == [
        ("/articles/b/", "2024")
    ]


def test_junk_urls_are_counted_with_the_cleaned_fields():
    """Dropped, and counted (the run's ``fields_cleaned``): a repair an operator can see."""
    junk = [{"@type": "ListItem", "url": url, "name": "x"} for url in ("/a-\ud800/", {"a": 1}, 7)]
    good = {"@type": "ListItem", "url": "/articles/ok/", "name": "OK"}
    no_url = {"@type": "ListItem", "name": "名前だけ"}
    block = json.dumps({"@type": "ItemList", "itemListElement": [*junk, good, no_url]})
    page = f'<html><head><script type="application/ld+json">{block}</script></head></html>'
    listing = extract_listing(page, BASE)
    assert [e.url for e in listing.entries] == ["http://127.0.0.1:8000/articles/ok/"]
    assert listing.cleaned == 3
