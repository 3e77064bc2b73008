"""Structured data on listing pages: JSON-LD ``ItemList`` (schema.org).

Some themes render the visible list with JavaScript and ship the list only as JSON-LD;
others ship both, and the JSON-LD then fills fields the cards do not show. JSON is the
one source of lone surrogates (``"\\ud800"``) and of unbounded nesting: the first are
dropped and counted per field, the second is read no deeper than :data:`_MAX_DEPTH`.

Only article-like things become entries: SEO plugins put breadcrumbs, the publisher
(``Organization``), the site (``WebSite``) and authors (``Person``) in ``ItemList``-shaped
blocks too, and each would otherwise be archived as a new "article". Values are read by
their JSON-LD shape (``{"@value": …}``, ``{"@id": …}``, lists), never by Python's ``str``
of a dict, and a URL that cannot be an address (a lone surrogate, a dict) drops its
element alone: one bad element never fails the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from lxml import etree

from topicwatch.archive.text import strip_volatile_edges
from topicwatch.archive.urls import PageUrls
from topicwatch.crawler.dates import read_date
from topicwatch.crawler.extracted import HEADLINE_CAP, SUMMARY_CAP, Entry, cut_markup, make_entry
from topicwatch.crawler.text import has_lone_surrogates, text_from_markup

_JSON_LD = etree.XPath("//script[@type='application/ld+json']")  # compiled once, not per page
_MAX_DEPTH = 32  # JSON-LD graphs nest a few levels; deeper is no ItemList we can use


class StructuredList(NamedTuple):
    """The entries of a page's JSON-LD lists, and how many elements had a junk URL."""

    entries: list[Entry]
    junk_urls: int = 0


def item_list_entries(root: Any, urls: PageUrls) -> StructuredList:
    """Entries of the page's JSON-LD ``ItemList`` blocks, in list order (none if none).

    An element whose URL is no address (a lone surrogate, an object, a number) is dropped
    and counted; one whose URL is simply no article (a tag page) is dropped silently.
    """
    entries, junk = [], 0
    for node in _JSON_LD(root):
        for element in _list_elements(_load(node.text_content())):
            given = _first(element, "url", "@id")
            href = _url_value(given)
            if not href or has_lone_surrogates(href):
                junk += given is not None  # no URL at all is no junk: just no article
                continue
            url = urls.article(href)
            if url is not None:
                entries.append(_entry(url, element))
    return StructuredList(entries, junk)


class _Field(NamedTuple):
    text: str
    cut: bool  # markup cut before parsing
    repaired: bool  # lone surrogates dropped


def _entry(url: str, element: dict[str, Any]) -> Entry:
    fields = {
        "headline": _field(element, HEADLINE_CAP, "headline", "name"),
        "summary": _field(element, SUMMARY_CAP, "description"),
    }
    date = read_date(_text_value(_first(element, "datePublished")))
    return make_entry(
        url,
        fields["headline"].text,
        fields["summary"].text,
        date.iso,
        truncated=[name for name, field in fields.items() if field.cut],
        cleaned=[name for name, field in fields.items() if field.repaired]
        + ["published_at"] * date.unreadable,
    )


def _field(element: dict[str, Any], cap: int, *keys: str) -> _Field:
    """A field's plain text without volatile edges (JSON-LD values may hold HTML)."""
    raw, cut = cut_markup(_text_value(_first(element, *keys)), cap)
    return _Field(strip_volatile_edges(text_from_markup(raw)), cut, has_lone_surrogates(raw))


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        return None


def _list_elements(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """The article objects of every ItemList in a JSON-LD document (graphs included)."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(data, list):
        for value in data:
            yield from _list_elements(value, depth + 1)
    elif isinstance(data, dict):
        if "@graph" in data:
            yield from _list_elements(data["@graph"], depth + 1)
        if _is_type(data, "ItemList") and not _types(data) & _NAVIGATION_LISTS:
            for element in _as_list(data.get("itemListElement")):
                if isinstance(element, dict) and _is_article_like(article := _article_of(element)):
                    yield article


# ItemList subtypes that list the site's own pages, never the topic's articles.
_NAVIGATION_LISTS = frozenset({"BreadcrumbList", "SiteNavigationElement", "HowToSection"})
# A thing a listing can list as an article: any schema.org *Article (NewsArticle,
# ReportageNewsArticle, …) or *Posting (BlogPosting, LiveBlogPosting), a Report or Review,
# a page or video of its own, or an untyped ListItem. Not a Person, Organization,
# WebSite, BreadcrumbList, ImageObject, Place, Event or Product.
_ARTICLE_LIKE = re.compile(
    r"\w*Article|\w*Posting|Report|Review|CreativeWork|WebPage|ItemPage|VideoObject|ListItem|Thing"
)


def _is_article_like(element: dict[str, Any]) -> bool:
    types = _types(element)
    return not types or any(_ARTICLE_LIKE.fullmatch(kind) for kind in types)


def _types(data: dict[str, Any]) -> set[str]:
    """``@type`` as local names: ``https://schema.org/NewsArticle`` and ``schema:Person``
    are NewsArticle and Person."""
    return {
        re.split(r"[/#:]", kind)[-1]
        for kind in _as_list(data.get("@type"))
        if isinstance(kind, str)
    }


def _article_of(element: dict[str, Any]) -> dict[str, Any]:
    """A ListItem's article: its ``item`` object merged over the ListItem's own fields."""
    item = element.get("item")
    if isinstance(item, dict):
        return {**element, **item}
    if isinstance(item, str):
        return {**element, "url": element.get("url") or item}
    return element


def _is_type(data: dict[str, Any], name: str) -> bool:
    return name in _types(data)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _first(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key):
            return data[key]
    return None


def _text_value(value: Any, depth: int = 0) -> str:
    """A JSON-LD value as text: a string, a number, ``{"@value": …}`` (a language-tagged
    string), or the first such value of a list. Anything else (an object, ``true``) is no
    text: ``str`` of it would archive ``{'@value': '見出し'}`` as a headline."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if depth < 4 and isinstance(value, dict):
        return _text_value(value.get("@value"), depth + 1)
    if depth < 4 and isinstance(value, list):
        return next((text for v in value if (text := _text_value(v, depth + 1))), "")
    return ""


def _url_value(value: Any, depth: int = 0) -> str:
    """A JSON-LD URL: a string, a node reference ``{"@id": …}`` or ``{"url": …}``, or the
    first of a list ("" if none)."""
    if isinstance(value, str):
        return value
    if depth < 4 and isinstance(value, dict):
        return _url_value(value.get("@id") or value.get("url"), depth + 1)
    if depth < 4 and isinstance(value, list):
        return next((url for v in value if (url := _url_value(v, depth + 1))), "")
    return ""
