"""Structured data on listing pages: JSON-LD ``ItemList`` (schema.org).

Some themes render the visible list with JavaScript and ship the list only as JSON-LD;
others ship both, and the JSON-LD then fills fields the cards do not show. JSON is the
one source of lone surrogates (``"\\ud800"``) and of unbounded nesting: the first are
dropped and counted per field, the second is read no deeper than :data:`_MAX_DEPTH`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from topicwatch.archive.text import strip_volatile_edges
from topicwatch.archive.urls import PageUrls
from topicwatch.crawler.dates import read_date
from topicwatch.crawler.extracted import HEADLINE_CAP, SUMMARY_CAP, Entry, cut_markup, make_entry
from topicwatch.crawler.text import has_lone_surrogates, text_from_markup

_MAX_DEPTH = 32  # JSON-LD graphs nest a few levels; deeper is no ItemList we can use


def item_list_entries(root: Any, urls: PageUrls) -> list[Entry]:
    """Entries of the page's JSON-LD ``ItemList`` blocks, in list order ([] if none)."""
    entries = []
    for node in root.xpath("//script[@type='application/ld+json']"):
        for element in _list_elements(_load(node.text_content())):
            url = urls.article(str(_first(element, "url", "@id") or ""))
            if url is not None:
                entries.append(_entry(url, element))
    return entries


class _Field(NamedTuple):
    text: str
    cut: bool  # markup cut before parsing
    repaired: bool  # lone surrogates dropped


def _entry(url: str, element: dict[str, Any]) -> Entry:
    fields = {
        "headline": _field(element, HEADLINE_CAP, "headline", "name"),
        "summary": _field(element, SUMMARY_CAP, "description"),
    }
    date = read_date(str(_first(element, "datePublished") or ""))
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
    raw, cut = cut_markup(str(_first(element, *keys) or ""), cap)
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
        if _is_type(data, "ItemList"):
            for element in data.get("itemListElement") or []:
                if isinstance(element, dict):
                    yield _article_of(element)


def _article_of(element: dict[str, Any]) -> dict[str, Any]:
    """A ListItem's article: its ``item`` object merged over the ListItem's own fields."""
    item = element.get("item")
    if isinstance(item, dict):
        return {**element, **item}
    if isinstance(item, str):
        return {**element, "url": element.get("url") or item}
    return element


def _is_type(data: dict[str, Any], name: str) -> bool:
    kind = data.get("@type")
    return kind == name or (isinstance(kind, list) and name in kind)


def _first(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key):
            return data[key]
    return None
