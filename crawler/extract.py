"""Pure listing extraction: HTML and the page's URL in, article entries out.

The order of trust: a topic's own CSS selectors (config), then the page's structured data
(JSON-LD ``ItemList``), then the card heuristics of :mod:`crawler.cards`. No network and
no archive here, so every page family is a golden test (tests/fixtures/listings/).
"""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache

from lxml import etree
from lxml import html as lxml_html
from lxml.html import HtmlElement

from crawler.cards import Card, find_cards, unnest_cards
from crawler.dates import parse_date
from crawler.entry import Entry
from crawler.structured import item_list_entries
from crawler.text import clean_text
from crawler.urls import PageUrls

_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "button", "select")
_MORE_LINK = re.compile(
    r"^(続きを読む|続きをみる|続きを見る|もっと見る|詳しくはこちら|記事を読む|Read more|"
    r"Continue reading|More)\b.*$",
    re.IGNORECASE,
)
_SCREEN_READER = {"screen-reader-text", "sr-only", "visually-hidden", "screen-reader"}
# Class words of labels that sit inside titles and excerpts but are not their text.
_LABEL_WORDS = {
    "new", "badge", "label", "icon", "cat", "category", "categories", "tag", "tags", "terms",
    "date", "time", "meta", "author", "comment", "comments", "count", "more", "readmore",
    "btn", "button", "pr", "views",
}  # fmt: skip
_SUMMARY_WORDS = {"excerpt", "summary", "snippet", "description", "desc", "lead", "abstract"}
_WEAK_SUMMARY_WORDS = {"text", "content", "body"}
_WORD_SPLIT = re.compile(r"[\s_\-]+|(?<=[a-z])(?=[A-Z])")
_TITLE_NODES = etree.XPath(
    ".//*[@itemprop='headline' or @itemprop='name'] | .//h1 | .//h2 | .//h3 | .//h4 | .//h5"
    " | .//h6 | .//*[contains(@class, 'title') and not(contains(@class, 'subtitle'))]"
)
_TEXT_BLOCKS = etree.XPath(".//p | .//div[not(*)] | .//span[not(*)] | .//td")
_MACHINE_DATES = etree.XPath(".//time[@datetime] | .//*[@itemprop='datePublished']")
_DATE_NODES = etree.XPath(
    ".//time | .//*[contains(@class, 'date') or contains(@class, 'time')"
    " or contains(@class, 'posted')]"
)
# Short lines with a digit: where themes print dates without marking them up.
_META_LINES = etree.XPath(
    ".//*[self::p or self::span or self::div or self::dd or self::li or self::td]"
    "[string-length(normalize-space(.)) <= 40][translate(., '0123456789', '') != .]"
)
_TRAILING_ELLIPSIS = re.compile(r"\s*(\[(…|\.\.\.)\]|…+|\.\.\.)$")
_GENERIC_ALT = re.compile(
    r"^(no ?image|noimage|thumbnail|サムネイル|画像|image|photo|eyecatch)$", re.I
)


@dataclass(frozen=True)
class Selectors:
    """Per-topic CSS selectors (from config) that win over the heuristics."""

    item: str | None = None
    headline: str | None = None
    summary: str | None = None
    link: str | None = None
    date: str | None = None
    next_page: str | None = None


@dataclass(frozen=True)
class Listing:
    """A listing page's entries in page order, its next page, and how they were found."""

    entries: list[Entry] = field(default_factory=list)
    next_url: str | None = None
    method: str = "none"
    diagnostics: str = ""


def extract_listing(
    page_html: str,
    page_url: str,
    *,
    selectors: Selectors | None = None,
    fetched_at: datetime | None = None,
) -> Listing:
    """Extract the main list of article entries from a listing page."""
    root = _parse(page_html)
    if root is None:
        return Listing(diagnostics="empty or unparseable document")
    urls = PageUrls(page_url)
    structured = item_list_entries(root, urls)
    _drop_noise(root)
    next_url = find_next_page(root, urls, selectors)
    if selectors and selectors.item:
        entries = _entries_from_selectors(root, urls, selectors, fetched_at)
        return Listing(entries, next_url, "selectors", f"item selector {selectors.item!r}")
    groups = find_cards(root, urls.article)
    dom = [_entry_from_card(card, fetched_at) for card in groups[0].cards] if groups else []
    diagnostics = "; ".join(f"{g.where} x{len(g.cards)} score {g.score:.1f}" for g in groups[:3])
    if structured and len(structured) >= len(dom):
        return Listing(_merge(structured, dom), next_url, "json-ld", diagnostics)
    if not dom:
        return Listing([], next_url, "none", diagnostics or "no article links")
    return Listing(_merge(dom, structured), next_url, "cards", diagnostics)


# C0 controls other than tab and line breaks: never text in HTML, and lxml keeps them in
# the tree but refuses them when the tree is edited (dropping a label from a card).
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _parse(page_html: str) -> HtmlElement | None:
    if not page_html.strip():
        return None
    try:
        root = lxml_html.document_fromstring(_CONTROLS.sub(" ", page_html))
    except (etree.ParserError, ValueError):
        return None
    etree.strip_elements(root, etree.Comment, with_tail=False)
    unnest_cards(root)
    return root


def _drop_noise(root: HtmlElement) -> None:
    etree.strip_elements(root, *_DROP_TAGS, with_tail=False)


def _merge(primary: list[Entry], secondary: list[Entry]) -> list[Entry]:
    """Fill fields ``primary`` lacks from ``secondary`` entries of the same URL."""
    extra = {entry.url: entry for entry in secondary}
    merged = []
    for entry in primary:
        other = extra.get(entry.url)
        if other is not None:
            entry = replace(
                entry,
                headline=entry.headline or other.headline,
                summary=entry.summary or other.summary,
                published_at=entry.published_at or other.published_at,
            )
        merged.append(entry)
    return merged


def _entry_from_card(card: Card, fetched_at: datetime | None) -> Entry:
    element = card.element
    headline = _headline(element, card)
    summary = _summary(element, headline)
    return Entry(card.url, headline, summary, _date(element, fetched_at))


def _headline(element: HtmlElement, card: Card) -> str:
    """Visible title first; then the link's ``title``; then an image ``alt``."""
    for node in _TITLE_NODES(element):
        text = _visible_text(node)
        if text:
            return text
    for anchor in card.anchors:
        if not _is_link_only(anchor):
            continue
        text = _visible_text(anchor)
        if text and len(text) <= 80 and not _MORE_LINK.match(text):
            return text
    for anchor in card.anchors:
        if anchor.get("title", "").strip():
            return clean_text(anchor.get("title", ""))
    for image in element.iter("img"):
        alt = clean_text(image.get("alt", ""))
        if alt and not _GENERIC_ALT.match(alt):
            return alt
    return ""


def _is_link_only(anchor: HtmlElement) -> bool:
    """An anchor that is just a title link (not a whole card wrapped in one link)."""
    return not any(child.tag in ("p", "div", "figure", "img") for child in anchor.iter())


def _summary(element: HtmlElement, headline: str) -> str:
    """The excerpt: an element marked as one (strongest marking first), else the longest
    other text block. Trailing truncation marks (…, [...]) are not part of the text."""
    marked = [
        (0 if words & _SUMMARY_WORDS or node.get("itemprop") == "description" else 1, node)
        for node in element.iterdescendants()
        if (
            isinstance(node.tag, str)
            and not _is_label(node)
            and (words := _class_words(node)) & (_SUMMARY_WORDS | _WEAK_SUMMARY_WORDS)
        )
        or node.get("itemprop") == "description"
    ]
    for _, node in sorted(marked, key=lambda pair: pair[0]):
        text = _visible_text(node)
        if text and text != headline:
            return _TRAILING_ELLIPSIS.sub("", text)
    blocks = [_visible_text(node) for node in _TEXT_BLOCKS(element) if not _is_label(node)]
    blocks = [text for text in blocks if text and text != headline]
    longest = max(blocks, key=len, default="")
    return _TRAILING_ELLIPSIS.sub("", longest) if len(longest) >= 20 else ""


def _date(element: HtmlElement, fetched_at: datetime | None) -> str:
    for node in _MACHINE_DATES(element):
        value = node.get("datetime") or node.get("content") or node.text_content()
        parsed = parse_date(value, fetched_at=fetched_at)
        if parsed:
            return parsed
    for node in _DATE_NODES(element):
        parsed = parse_date(node.text_content(), fetched_at=fetched_at)
        if parsed:
            return parsed
    for node in _META_LINES(element):  # a meta line, never prose ("2026年2月11日に始動")
        parsed = parse_date(clean_text(node.text_content()), fetched_at=fetched_at)
        if parsed:
            return parsed
    return ""


def _visible_text(node: HtmlElement) -> str:
    """Text of ``node`` without screen-reader text, labels, dates and "read more" links."""
    if any(_is_label(child) for child in _elements_below(node)):
        node = deepcopy(node)
        for child in [child for child in _elements_below(node) if _is_label(child)]:
            if child.getparent() is not None:
                child.drop_tree()  # keeps the tail text that follows the label
    return _strip_more(clean_text(node.text_content()))


def _elements_below(node: HtmlElement) -> list[HtmlElement]:
    return [child for child in node.iterdescendants() if isinstance(child.tag, str)]


def _is_label(node: HtmlElement) -> bool:
    """Screen-reader text, a date, a badge/category label, or a "続きを読む" link."""
    if set(node.get("class", "").split()) & _SCREEN_READER or node.tag == "time":
        return True
    if _class_words(node) & _LABEL_WORDS:
        return True
    return node.tag == "a" and bool(_MORE_LINK.match(clean_text(node.text_content())))


def _class_words(node: HtmlElement) -> frozenset[str]:
    """``vk_post_title_new c-postThumb`` -> {vk, post, title, new, c, post, thumb}."""
    return _words_of(node.get("class", ""))


@lru_cache(maxsize=4096)
def _words_of(classes: str) -> frozenset[str]:
    return frozenset(word.lower() for word in _WORD_SPLIT.split(classes) if word)


def _strip_more(text: str) -> str:
    """Drop a trailing "続きを読む"-style link text glued onto an excerpt."""
    return re.sub(r"\s*(続きを読む|Continue reading|Read more)\s*»?$", "", text).strip()


def _entries_from_selectors(
    root: HtmlElement, urls: PageUrls, selectors: Selectors, fetched_at: datetime | None
) -> list[Entry]:
    entries = []
    for element in root.cssselect(selectors.item or ""):
        link = element.cssselect(selectors.link or "a[href]")
        href = link[0].get("href", "") if link else element.get("href", "")
        url = urls.article(href)
        if url is None:
            continue
        entries.append(
            Entry(
                url,
                _selected_text(element, selectors.headline),
                _selected_text(element, selectors.summary),
                _selected_date(element, selectors.date, fetched_at),
            )
        )
    return entries


def _selected_text(element: HtmlElement, selector: str | None) -> str:
    if not selector:
        return ""
    found = element.cssselect(selector)
    return _visible_text(found[0]) if found else ""


def _selected_date(element: HtmlElement, selector: str | None, fetched_at: datetime | None) -> str:
    if not selector:
        return _date(element, fetched_at)
    found = element.cssselect(selector)
    if not found:
        return ""
    value = found[0].get("datetime") or found[0].text_content()
    return parse_date(value, fetched_at=fetched_at)


_NEXT_XPATH = etree.XPath(
    "//link[@rel='next']/@href | //a[@rel='next']/@href"
    " | //a[contains(concat(' ', normalize-space(@class), ' '), ' next ')]/@href"
    " | //a[contains(@class, 'pagination-next')]/@href"
    " | //*[contains(@class, 'nav-previous')]//a/@href"
)


def find_next_page(
    root: HtmlElement, urls: PageUrls, selectors: Selectors | None = None
) -> str | None:
    """The next listing page, found on the page itself (never guessed blindly)."""
    if selectors and selectors.next_page:
        hrefs = [node.get("href", "") for node in root.cssselect(selectors.next_page)]
    else:
        hrefs = [str(href) for href in _NEXT_XPATH(root)]
        hrefs += _numbered_page_links(root, urls)
    for href in hrefs:
        url = urls.canonical(href)
        if url and url != urls.canonical_page and _same_listing(url, urls):
            return url
    return None


_PAGE_NUMBER = re.compile(r"/page/(\d+)/?$")


def page_number(url: str) -> int:
    """The ``/page/N/`` number of a listing URL (1 when there is none)."""
    match = _PAGE_NUMBER.search(url.split("?")[0])
    return int(match.group(1)) if match else 1


def _numbered_page_links(root: HtmlElement, urls: PageUrls) -> list[str]:
    """A link to ``/page/N+1/`` of this listing, for themes without rel/class markers."""
    wanted = page_number(urls.page_url) + 1
    return [
        str(href)
        for href in root.xpath("//a/@href[contains(., 'page')]")
        if page_number(urls.canonical(str(href)) or "") == wanted
    ]


def _same_listing(url: str, urls: PageUrls) -> bool:
    """Same site, and the same listing path (page 2 of this tag, not of another)."""
    base = _PAGE_NUMBER.sub("/", (urls.canonical_page or "").split("?")[0])
    candidate = _PAGE_NUMBER.sub("/", url.split("?")[0])
    return candidate == base or "paged=" in url or "page=" in url
