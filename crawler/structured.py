"""Structured data on listing pages: JSON-LD ``ItemList`` (schema.org).

Some themes render the visible list with JavaScript and ship the list only as JSON-LD;
others ship both, and the JSON-LD then fills fields the cards do not show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from crawler.dates import parse_date
from crawler.entry import Entry
from crawler.text import text_from_markup
from crawler.urls import PageUrls


def item_list_entries(root: Any, urls: PageUrls) -> list[Entry]:
    """Entries of the page's JSON-LD ``ItemList`` blocks, in list order ([] if none)."""
    entries = []
    for node in root.xpath("//script[@type='application/ld+json']"):
        for element in _list_elements(_load(node.text_content())):
            url = urls.article(str(_first(element, "url", "@id") or ""))
            if url is None:
                continue
            entries.append(
                Entry(
                    url,
                    text_from_markup(str(_first(element, "headline", "name") or "")),
                    text_from_markup(str(_first(element, "description") or "")),
                    parse_date(str(_first(element, "datePublished") or "")),
                )
            )
    return entries


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _list_elements(data: Any) -> Iterator[dict[str, Any]]:
    """The article objects of every ItemList in a JSON-LD document (graphs included)."""
    if isinstance(data, list):
        for value in data:
            yield from _list_elements(value)
    elif isinstance(data, dict):
        if "@graph" in data:
            yield from _list_elements(data["@graph"])
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
