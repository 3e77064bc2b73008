"""Find the page's main list of article cards without knowing the theme's class names.

A *card* is the largest element around an article link that holds no link to a different
article. Cards that share a parent and a tag form a candidate list; the list that wins is
the one with the most, richest cards outside navigation, sidebars and ranking widgets.
A sidebar's "人気記事" list has cards too, which is why chrome is penalised, not ignored
only by tag: many themes put widgets in plain ``div``s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lxml.html import HtmlElement

_CHROME_TAGS = {"aside", "nav", "header", "footer"}
_CHROME_TOKENS = {
    "side", "sidebar", "widget", "widgets", "ranking", "rank", "popular", "related",
    "recommend", "footer", "header", "nav", "navi", "navigation", "menu", "breadcrumb",
    "breadcrumbs", "share", "sns", "social", "pickup", "tagcloud", "banner", "ad", "ads",
    "trend", "trending", "secondary", "drawer", "modal",
}  # fmt: skip
_CHROME_HEADINGS = re.compile(
    r"(人気|ランキング|関連|おすすめ|オススメ|注目|アクセス|Popular|Related)"
)
_MAIN_TOKENS = {"main", "content", "contents", "primary"}
# Words of list containers: a boost to the score, but no landmark (widgets use them too).
_LIST_TOKENS = {"archive", "posts", "entries", "articles", "loop", "list"}
_TOKEN_SPLIT = re.compile(r"[\s_\-]+")


@dataclass
class Card:
    """One article card: its element and the canonical URL of the article it links."""

    element: HtmlElement
    url: str
    anchors: list[HtmlElement]


@dataclass
class CardGroup:
    """Sibling cards that form one candidate list, with the score that ranks it."""

    cards: list[Card]
    score: float
    where: str
    chrome: bool = False  # in navigation, a sidebar or a widget: never the topic's list


def unnest_cards(root: HtmlElement) -> None:
    """Undo what a missing end tag inside a card does to the parse.

    A card that never closes a ``<div>`` makes libxml2 ignore the card's own
    ``</article>``: the next cards nest inside it, and the stray end tags that follow close
    the wrong elements, so the list falls apart (cards read as missing, then as retracted).
    Browsers close the open ``<div>`` at ``</article>``. Cards of one class nested in each
    other mean exactly that, never a design, so each such card, with everything after it
    inside the outer card, moves out to follow the outer card, in document order.
    """
    for element in list(root.iter("article")):
        classes = element.get("class")
        if not classes:
            continue
        outer = next(
            (a for a in element.iterancestors("article") if a.get("class") == classes), None
        )
        if outer is not None:
            _split_at(outer, element)


def _split_at(outer: HtmlElement, start: HtmlElement) -> None:
    """Move ``start`` and whatever follows it inside ``outer`` out, right after ``outer``."""
    moved = [start, *start.itersiblings()]
    node = start.getparent()
    while node is not None and node is not outer:
        moved.extend(node.itersiblings())
        node = node.getparent()
    after = outer
    for node in moved:
        after.addnext(node)  # lxml moves the node with its tail
        after = node


def find_cards(root: HtmlElement, article_url: Callable[[str], str | None]) -> list[CardGroup]:
    """All candidate card lists on the page, best first.

    ``article_url`` maps an ``href`` to a canonical article URL, or None for other links.
    """
    links = [(a, article_url(a.get("href", ""))) for a in root.iter("a")]
    anchors_by_url: dict[str, list[HtmlElement]] = {}
    for anchor, url in links:
        if url is not None:
            anchors_by_url.setdefault(url, []).append(anchor)
    urls_under = _urls_under(links)
    cards: dict[HtmlElement, Card] = {}
    for url, anchors in anchors_by_url.items():
        for anchor in anchors:
            element = _climb(anchor, urls_under)
            card = cards.get(element)
            if card is None:
                cards[element] = Card(element, url, [anchor])
            else:
                card.anchors.append(anchor)
    groups = _group(cards.values())
    return sorted(groups, key=lambda group: group.score, reverse=True)


def _urls_under(links: Iterable[tuple[HtmlElement, str | None]]) -> dict[HtmlElement, set[str]]:
    """For each element, the set of article URLs linked inside it (one pass up the tree)."""
    under: dict[HtmlElement, set[str]] = {}
    for anchor, url in links:
        if url is None:
            continue
        element: HtmlElement | None = anchor
        while element is not None:
            urls = under.setdefault(element, set())
            if url in urls and len(urls) > 1:
                break  # ancestors already know this URL and others: nothing new above
            urls.add(url)
            element = element.getparent()
    return under


def _climb(anchor: HtmlElement, urls_under: dict[HtmlElement, set[str]]) -> HtmlElement:
    element = anchor
    parent = element.getparent()
    while parent is not None and parent.tag != "body" and len(urls_under.get(parent, ())) <= 1:
        element, parent = parent, parent.getparent()
    return element


def _group(cards: Iterable[Card]) -> list[CardGroup]:
    by_parent: dict[tuple[HtmlElement | None, str], list[Card]] = {}
    for card in cards:
        key = (card.element.getparent(), str(card.element.tag))
        by_parent.setdefault(key, []).append(card)
    groups = []
    places = _Places()
    for (parent, tag), members in by_parent.items():
        if parent is not None:
            _sort_as_children(members, parent)
        score = _score(members, parent, places)
        chrome = parent is not None and places.in_chrome(parent)
        groups.append(CardGroup(members, score, _describe(parent, tag), chrome))
    return groups


def _sort_as_children(members: list[Card], parent: HtmlElement) -> None:
    """Sort sibling cards into document order: one pass over their parent's children
    (counting each card's preceding siblings was quadratic in the length of the list)."""
    position = {child: index for index, child in enumerate(parent)}
    members.sort(key=lambda card: position[card.element])


def _score(cards: list[Card], parent: HtmlElement | None, places: _Places) -> float:
    """More cards, more text per card, inside main content, and never in chrome."""
    text = sum(min(len(_text(card.element)), 300) for card in cards) / len(cards)
    score = len(cards) * (1.0 + text / 60.0)
    if parent is not None and places.in_chrome(parent):
        score *= 0.02
    elif parent is not None and places.in_main(parent):
        score *= 1.5
    if len(cards) == 1:
        score *= 0.3  # a lone card is a lead block or a promo, rarely the list
    return score


def _text(element: HtmlElement) -> str:
    return " ".join(element.text_content().split())


class _Places:
    """Where candidate lists sit, each ancestor judged once per page.

    Many lists share ancestors, and judging one reads its class words and the text of
    its first children: judged anew for every list, a page of many small lists with a
    long class attribute or a long first child cost quadratic time.
    """

    def __init__(self) -> None:
        self._tokens: dict[HtmlElement, set[str]] = {}
        self._verdicts: dict[HtmlElement, bool | None] = {}

    def in_chrome(self, element: HtmlElement) -> bool:
        """Inside navigation, a sidebar or a widget, judged up to the nearest main-content
        marker: page wrappers often carry layout classes such as ``-sidebar-on``."""
        for ancestor in _self_and_ancestors(element):
            if ancestor not in self._verdicts:
                self._verdicts[ancestor] = self._verdict(ancestor)
            verdict = self._verdicts[ancestor]
            if verdict is not None:
                return verdict
        return False

    def in_main(self, element: HtmlElement) -> bool:
        return any(
            self._is_main_marker(ancestor) or self.tokens(ancestor) & _LIST_TOKENS
            for ancestor in _self_and_ancestors(element)
        )

    def tokens(self, element: HtmlElement) -> set[str]:
        if element not in self._tokens:
            self._tokens[element] = _name_tokens(element)
        return self._tokens[element]

    def _verdict(self, ancestor: HtmlElement) -> bool | None:
        """True: chrome; False: main content, whatever is above; None: neither."""
        if self.tokens(ancestor) & _CHROME_TOKENS:
            return True
        if ancestor.tag in _CHROME_TAGS and not _inside_main_element(ancestor):
            return True
        if self._is_main_marker(ancestor):
            return False
        return True if _heading_says_chrome(ancestor) else None

    def _is_main_marker(self, element: HtmlElement) -> bool:
        return element.tag in ("main", "article") or bool(self.tokens(element) & _MAIN_TOKENS)


def _inside_main_element(element: HtmlElement) -> bool:
    """An ``aside`` inside ``main``/``article`` is part of the content (AFFINGER wraps its
    archive list in one); sidebars stand beside the main element, not in it."""
    return any(node.tag in ("main", "article") for node in element.iterancestors())


def _heading_says_chrome(element: HtmlElement) -> bool:
    """A widget's own heading ("人気記事") right before or inside it marks it as chrome."""
    previous = element.getprevious()
    candidates = [previous] if previous is not None else []
    candidates += [child for child in element[:2]]
    return any(
        isinstance(node.tag, str)
        and re.fullmatch(r"h[2-6]|div|p|span", node.tag) is not None  # h1 titles the page
        and len(_text(node)) <= 20
        and _CHROME_HEADINGS.search(_text(node)) is not None
        for node in candidates
    )


def _name_tokens(element: HtmlElement) -> set[str]:
    names = f"{element.get('class', '')} {element.get('id', '')}".lower()
    return set(_TOKEN_SPLIT.split(names))


def _self_and_ancestors(element: HtmlElement) -> Iterable[HtmlElement]:
    node: HtmlElement | None = element
    while node is not None and node.tag not in ("body", "html"):
        yield node
        node = node.getparent()


def _describe(parent: HtmlElement | None, tag: str) -> str:
    if parent is None:
        return tag
    names = ".".join(parent.get("class", "").split())
    ident = f"#{parent.get('id')}" if parent.get("id") else ""
    return f"{parent.tag}{ident}{'.' + names if names else ''} > {tag}"
