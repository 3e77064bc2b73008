"""Pure article-page extraction: the facts a listing card may not show.

Listing cards on some sites show only a summary; the article page carries the headline
(``og:title`` / ``h1``), the publication time (``article:published_time``), tags, and
the ``rel=canonical`` URL that is the article's real identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree
from lxml import html as lxml_html

from topicwatch.archive.urls import canonical_url, is_same_site
from topicwatch.crawler.dates import parse_date
from topicwatch.crawler.text import clean_text, text_from_markup

# " | novaist" / " - サイト名" suffixes that og:title and <title> often carry.
_SITE_SUFFIX = re.compile(r"\s*[|｜\-–—]\s*[^|｜\-–—]{1,30}$")
# Compiled once: ``root.xpath(text)`` compiles its expression again on every page.
_CANONICAL_HREFS = etree.XPath("//link[@rel='canonical']/@href")
_H1 = etree.XPath("//h1")
_TIME_VALUES = etree.XPath("//time[@datetime]/@datetime")
_META_CONTENT = etree.XPath("//meta[@property=$name or @name=$name]/@content")


@dataclass(frozen=True)
class ArticleFacts:
    """What an article page says about itself (fields empty when it does not say)."""

    canonical_url: str = ""
    headline: str = ""
    published_at: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


def extract_article(page_html: str, page_url: str) -> ArticleFacts:
    """Read an article page's canonical URL, headline, publication time and tags."""
    try:
        root = lxml_html.document_fromstring(page_html) if page_html.strip() else None
    except (etree.ParserError, ValueError):
        root = None
    if root is None:
        return ArticleFacts()
    return ArticleFacts(
        _canonical(root, page_url),
        _headline(root),
        _published(root),
        tuple(dict.fromkeys(_meta_all(root, "article:tag"))),
    )


def _canonical(root: lxml_html.HtmlElement, page_url: str) -> str:
    for href in _CANONICAL_HREFS(root):
        url = canonical_url(str(href), page_url)
        if url and is_same_site(url, page_url):
            return url
    return ""


def _headline(root: lxml_html.HtmlElement) -> str:
    for node in _H1(root):
        text = clean_text(node.text_content())
        if text:
            return text
    for value in _meta_all(root, "og:title"):
        return _SITE_SUFFIX.sub("", value)
    return ""


def _published(root: lxml_html.HtmlElement) -> str:
    candidates = _meta_all(root, "article:published_time")
    candidates += [str(v) for v in _TIME_VALUES(root)]
    for value in candidates:
        parsed = parse_date(value)
        if parsed:
            return parsed
    return ""


def _meta_all(root: lxml_html.HtmlElement, name: str) -> list[str]:
    values = _META_CONTENT(root, name=name)
    return [text_from_markup(str(value)) for value in values if str(value).strip()]
