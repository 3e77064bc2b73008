"""Pure listing extraction: HTML and the page's URL in, article entries out.

The order of trust: a topic's own CSS selectors (config), then the page's structured data
(JSON-LD ``ItemList``), then the card heuristics of :mod:`crawler.cards`. No network and
no archive here, so every page family is a golden test (tests/fixtures/listings/).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from lxml import etree
from lxml import html as lxml_html
from lxml.html import HtmlElement

from topicwatch.archive.text import strip_volatile_edges
from topicwatch.archive.urls import PageUrls, canonical_url, page_urls
from topicwatch.crawler.cards import Card, find_cards, unnest_cards
from topicwatch.crawler.dates import DateReading, read_date
from topicwatch.crawler.extracted import Entry, make_entry
from topicwatch.crawler.recurring import RecentResults
from topicwatch.crawler.structured import item_list_entries
from topicwatch.crawler.text import clean_text, valid_unicode, visible_text

# Furigana (<rt>) and its fallback parentheses (<rp>) annotate the text, they are not it: a
# site adding readings above 北極圏 has not edited the headline.
_DROP_TAGS = (
    "script", "style", "noscript", "template", "svg", "iframe", "button", "select", "rt", "rp",
)  # fmt: skip
# Inline styles that hide an element from every reader.
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
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
# Elements that format a stretch of text; their edges are no break in it.
_INLINE_FORMATTING = {
    "b", "strong", "em", "i", "u", "s", "mark", "q", "cite", "abbr", "dfn", "bdi", "bdo",
    "ruby", "rb", "rt", "rp", "sup", "sub", "code", "kbd", "var", "samp", "font", "wbr",
}  # fmt: skip
_SUMMARY_WORDS = {"excerpt", "summary", "snippet", "description", "desc", "lead", "abstract"}
_WEAK_SUMMARY_WORDS = {"text", "content", "body"}
_WORD_SPLIT = re.compile(r"[\s_\-]+|(?<=[a-z])(?=[A-Z])")
_TITLE_NODES = etree.XPath(
    ".//*[@itemprop='headline' or @itemprop='name'] | .//h1 | .//h2 | .//h3 | .//h4 | .//h5"
    " | .//h6 | .//*[contains(@class, 'title') and not(contains(@class, 'subtitle'))]"
)
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
_MORE_TEXTS = ("続きを読む", "Continue reading", "Read more")
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
    """A listing page's entries in page order, its next page, and how they were found.

    ``cleaned`` counts the entries' fields that were cut to their cap, repaired or
    dropped (see :class:`crawler.extracted.Entry`): a bad field costs itself, not the page.
    """

    entries: list[Entry] = field(default_factory=list)
    next_url: str | None = None
    method: str = "none"
    diagnostics: str = ""
    cleaned: int = 0


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
    urls = page_urls(page_url)
    structured, junk_urls = item_list_entries(root, urls)
    _drop_noise(root)
    next_url = find_next_page(root, urls, selectors)
    if selectors and selectors.item:
        entries = _entries_from_selectors(root, urls, selectors, fetched_at)
        return _listing(entries, next_url, "selectors", f"item selector {selectors.item!r}")
    groups = find_cards(root, urls.article)
    # A sidebar's or widget's list ("新着記事", "人気記事") is never the topic's, even when the
    # topic's own list is gone: better no items (the layout guard fails the run) than those.
    lists = [group for group in groups if not group.chrome]
    dom = [_entry_from_card(card, page_url, fetched_at) for card in lists[0].cards] if lists else []
    diagnostics = "; ".join(f"{g.where} x{len(g.cards)} score {g.score:.1f}" for g in groups[:3])
    if structured and len(structured) >= len(dom):
        entries = _merge(structured, dom)
        return _listing(entries, next_url, "json-ld", diagnostics, junk_urls)
    if not dom:
        return Listing([], next_url, "none", diagnostics or "no article links", junk_urls)
    return _listing(_merge(dom, structured), next_url, "cards", diagnostics, junk_urls)


def _listing(
    entries: list[Entry], next_url: str | None, method: str, diagnostics: str, dropped: int = 0
) -> Listing:
    """``dropped``: JSON-LD elements whose URL was junk, counted with the cleaned fields."""
    cleaned = sum(entry.irregular for entry in entries) + dropped
    return Listing(entries, next_url, method, diagnostics, cleaned)


# C0 controls other than tab and line breaks: never text in HTML, and lxml keeps them in
# the tree but refuses them when the tree is edited (dropping a label from a card).
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _parse(page_html: str) -> HtmlElement | None:
    if not page_html.strip():
        return None
    try:
        root = lxml_html.document_fromstring(_CONTROLS.sub(" ", valid_unicode(page_html)))
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
    return [_fill(entry, extra[entry.url]) if entry.url in extra else entry for entry in primary]


def _fill(entry: Entry, other: Entry) -> Entry:
    """``entry`` with the fields it lacks taken from ``other``, with what befell them there."""
    lacking = [name for name in _FIELDS if not getattr(entry, name)]
    return replace(
        entry,
        **{name: getattr(other, name) for name in lacking},
        truncated=_union(entry.truncated, other.truncated, lacking),
        cleaned=_union(entry.cleaned, other.cleaned, lacking),
    )


def _union(own: tuple[str, ...], other: tuple[str, ...], taken: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*own, *(name for name in other if name in taken)]))


_FIELDS = ("headline", "summary", "published_at")


def _entry_from_card(card: Card, page_url: str, fetched_at: datetime | None) -> Entry:
    reading = _card_reading(card, page_url)
    # Read now, not remembered: a relative date ("3日前") means something against fetched_at.
    date = _first_date(reading.date_texts, fetched_at)
    dropped = ["published_at"] if date.unreadable else []
    return make_entry(card.url, reading.headline, reading.summary, date.iso, cleaned=dropped)


class _CardReading(NamedTuple):
    """What a card's markup says, whenever it is read: its texts, and where its date may be
    written (most trustworthy first)."""

    headline: str
    summary: str
    date_texts: tuple[str, ...]


# Cards a process has read before: most of a changed listing is the cards it showed last
# time, and reading a card's markup is most of what extraction costs (crawler.recurring).
_CARD_READINGS: RecentResults[_CardReading] = RecentResults(budget=8 * 2**20, largest=2**16)


def _card_reading(card: Card, page_url: str) -> _CardReading:
    """The card's reading, remembered by everything it depends on: the card's markup (its
    subtree, not its tail), its article URL, and the page's URL (which decides which of the
    card's links are its article's, :attr:`Card.anchors`)."""

    def read() -> _CardReading:
        headline = _headline(card.element, card)
        summary = _summary(card.element, headline)
        # Plain str: lxml's smart strings would keep the whole page's tree alive.
        dates = tuple(str(text) for text in _date_texts(card.element))
        return _CardReading(str(headline), str(summary), dates)

    try:
        markup = etree.tostring(card.element, with_tail=False)
    except (ValueError, etree.LxmlError):  # not serialisable: read it, remember nothing
        return read()
    return _CARD_READINGS.get((page_url, card.url, markup), len(markup), read)


def _headline(element: HtmlElement, card: Card) -> str:
    """Visible title first; then the link's ``title``; then an image ``alt``."""
    text = _first_text(_TITLE_NODES(element), bool)
    if text:
        return text
    for anchor in card.anchors:
        if not _is_link_only(anchor):
            continue
        text = _visible_text(anchor)
        if text and len(text) <= 80 and not _MORE_LINK.match(text):
            return text
    for anchor in card.anchors:
        title = _attribute_text(anchor, "title")
        if title:
            return title
    for image in element.iter("img"):
        alt = _attribute_text(image, "alt")
        if alt and not _GENERIC_ALT.match(alt):
            return alt
    return ""


def _attribute_text(node: HtmlElement, name: str) -> str:
    return strip_volatile_edges(clean_text(node.get(name, "")))


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
    strongest_first = (node for _, node in sorted(marked, key=lambda pair: pair[0]))
    text = _first_text(strongest_first, lambda text: bool(text) and text != headline)
    if text:
        return _strip_truncation_mark(text)
    texts = (_visible_text(node) for node in _text_blocks(element))
    longest = max((text for text in texts if text and text != headline), key=len, default="")
    return _strip_truncation_mark(longest) if len(longest) >= 20 else ""


def _first_text(nodes: Iterable[HtmlElement], accept: Callable[[str], bool]) -> str:
    """The first visible text of ``nodes`` that ``accept`` takes ("" if none).

    A node inside one already refused is not read: its text is part of that one's (or it
    is a label), and reading nested candidates one by one costs quadratic time.
    """
    refused: set[HtmlElement] = set()
    for node in nodes:
        if node in refused:
            continue
        text = _visible_text(node)
        if accept(text):
            return text
        refused.update(node.iter())
    return ""


def _text_blocks(element: HtmlElement) -> Iterator[HtmlElement]:
    """Paragraphs, table cells and leaf ``div``/``span``s that are not labels, outermost
    only: a block's text holds its inner blocks', so they never win "longest" (nested
    cells would otherwise each be read whole, quadratic in their depth). One walk."""
    pending = list(reversed(element))
    while pending:
        node = pending.pop()
        if not isinstance(node.tag, str):
            continue
        if _is_block(node) and not _is_label(node):
            yield node
        else:
            pending.extend(reversed(node))


def _is_block(node: HtmlElement) -> bool:
    if node.tag in ("p", "td"):
        return True
    return node.tag in ("div", "span") and not any(isinstance(c.tag, str) for c in node)


def _strip_truncation_mark(text: str) -> str:
    """Drop one trailing truncation mark: ``[…]``, ``[...]``, a run of ``…``, or ``...``.

    End-only string tests: a regex such as ``…+$`` tried from every position of a long
    run of ``…`` not at the end costs quadratic time.
    """
    for mark in ("[…]", "[...]"):
        if text.endswith(mark):
            return text[: -len(mark)].rstrip()
    if text.endswith("…"):
        return text.rstrip("…").rstrip()
    return text[:-3].rstrip() if text.endswith("...") else text


def _date(element: HtmlElement, fetched_at: datetime | None) -> DateReading:
    """The card's date; unreadable when no candidate gave one and some was unreadable."""
    return _first_date(_date_texts(element), fetched_at)


def _first_date(values: Iterable[str], fetched_at: datetime | None) -> DateReading:
    """The first of ``values`` that reads as a date (unreadable: none did, some tried)."""
    unreadable = False
    for value in values:
        reading = read_date(value, fetched_at=fetched_at)
        if reading.iso:
            return reading
        unreadable = unreadable or reading.unreadable
    return DateReading("", unreadable)


def _date_texts(element: HtmlElement) -> Iterator[str]:
    """Where a card's date may be written, most trustworthy first."""
    for node in _MACHINE_DATES(element):
        yield node.get("datetime") or node.get("content") or node.text_content()
    for node in _DATE_NODES(element):
        yield node.text_content()
    for node in _META_LINES(element):  # a meta line, never prose ("2026年2月11日に始動")
        yield clean_text(node.text_content())


def _visible_text(node: HtmlElement) -> str:
    """Text of ``node`` without screen-reader text, labels, dates, "read more" links and
    volatile edge fragments (relative times, counters, badges)."""
    return _strip_more(visible_text(_text_runs(node)))


def _text_runs(node: HtmlElement) -> list[str]:
    """The text under ``node`` in document order, less labels, as runs of text that
    element edges separate (a volatile fragment in an element of its own stands apart).

    Edges of inline text formatting (``<b>3日前</b>の地震``) separate nothing. One walk
    that skips each label's subtree but keeps its tail: linear however many labels there
    are (copying the tree and dropping labels one by one, re-joining tails each time, was
    quadratic).
    """
    runs: list[list[str]] = [[node.text or ""]]
    pending: list[HtmlElement | tuple[str, bool]] = list(reversed(node))
    while pending:
        item = pending.pop()
        if isinstance(item, tuple):
            _add_run(runs, *item)
            continue
        glued = not isinstance(item.tag, str) or item.tag in _INLINE_FORMATTING
        if isinstance(item.tag, str) and not _is_label(item):
            _add_run(runs, item.text or "", glued)
            pending.append((item.tail or "", glued))
            pending.extend(reversed(item))
        else:  # a label, or a comment or processing instruction: only its tail is text
            _add_run(runs, item.tail or "", glued)
    return ["".join(run) for run in runs]


def _add_run(runs: list[list[str]], text: str, glued: bool) -> None:
    if glued:
        runs[-1].append(text)
    else:
        runs.append([text])


def _is_label(node: HtmlElement) -> bool:
    """Screen-reader text, hidden text, a date, a badge/category label, or a "続きを読む"
    link. Hidden text (``hidden``, ``display: none``) is no part of what a reader sees, and
    themes toggle it."""
    if set(node.get("class", "").split()) & _SCREEN_READER or node.tag == "time":
        return True
    if node.get("hidden") is not None or _HIDDEN_STYLE.search(node.get("style", "")):
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
    """Drop a trailing "続きを読む"-style link text (and a »), glued onto an excerpt."""
    end = text.rstrip()
    end = end[:-1].rstrip() if end.endswith("»") else end
    for more in _MORE_TEXTS:
        if end.endswith(more):
            return end[: -len(more)].strip()
    return text.strip()


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
        date = _selected_date(element, selectors.date, fetched_at)
        entries.append(
            make_entry(
                url,
                _selected_text(element, selectors.headline),
                _selected_text(element, selectors.summary),
                date.iso,
                cleaned=["published_at"] if date.unreadable else [],
            )
        )
    return entries


def _selected_text(element: HtmlElement, selector: str | None) -> str:
    if not selector:
        return ""
    found = element.cssselect(selector)
    return _visible_text(found[0]) if found else ""


def _selected_date(
    element: HtmlElement, selector: str | None, fetched_at: datetime | None
) -> DateReading:
    if not selector:
        return _date(element, fetched_at)
    found = element.cssselect(selector)
    if not found:
        return DateReading("")
    value = found[0].get("datetime") or found[0].text_content()
    return read_date(value, fetched_at=fetched_at)


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


_PAGE_LINKS = etree.XPath("//a/@href[contains(., 'page')]")  # compiled once, not per page


def _numbered_page_links(root: HtmlElement, urls: PageUrls) -> list[str]:
    """A link to ``/page/N+1/`` of this listing, for themes without rel/class markers."""
    wanted = page_number(urls.page_url) + 1
    return [
        str(href)
        for href in _PAGE_LINKS(root)
        if page_number(urls.canonical(str(href)) or "") == wanted
    ]


def same_listing(url: str, listing_url: str) -> bool:
    """Whether ``url`` is a page of the listing at ``listing_url`` (not another page the
    site redirected a page number to, such as its home page)."""
    return _same_listing(canonical_url(url, listing_url) or url, PageUrls(listing_url))


def _same_listing(url: str, urls: PageUrls) -> bool:
    """Same site, and the same listing path (page 2 of this tag, not of another)."""
    base = _PAGE_NUMBER.sub("/", (urls.canonical_page or "").split("?")[0])
    candidate = _PAGE_NUMBER.sub("/", url.split("?")[0])
    return candidate == base or "paged=" in url or "page=" in url
