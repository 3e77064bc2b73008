"""Pure change detection: compare one run's listing with what the archive knew.

No I/O here, so every rule can be tested exhaustively (and property-tested) on plain values.

Rules (the public contract, see docs/schema.md):

* **new** – a URL the archive never had.
* **edited** – headline or summary differs from the latest version after normalising
  (NFKC, whitespace and volatile edge fragments ignored: see
  :func:`archive.text.comparison_key`). A field the listing did not show this time
  (empty), or showed as mojibake of the known text, is "not observed", never an edit: a
  partial layout break or a mislabelled charset must not rewrite history.
* **filled** – a field the archive had never observed (empty) is seen for the first time
  (the listing shows it, or the article page supplied it): a new version, not an edit.
* **alternating** – the text returns to one of the item's recent versions (an A/B test,
  a flip-flopping headline): not an edit; the item shows that version again, and the
  first return since its last edit is marked once.
* **vanished** – an item the previous run listed is absent although this run read the
  place where it would stand now: its nearest neighbours in the previous listing among
  the items that kept their order (:func:`kept_in_order`) — the one above it (the top of
  the listing for the first item) and the one below it — stand on one page of this run.
  An item that moved (a sticky post, an "updated" bump) is not among them, so it is never
  evidence and what it passed is never taken for retracted: a move is a move. Items that
  scrolled past the last page read, or whose place straddles two pages, are not vanished.
* **reappeared** – an item marked vanished is listed again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from topicwatch.archive.layout_guard import Continuity, confirmed
from topicwatch.archive.text import comparison_key, content_hash, is_mojibake_of

DRIFT_MIN = 3


@dataclass(frozen=True)
class Sighting:
    """One entry of the listing as this run saw it (a parsed card or a 304-carried one)."""

    url: str
    headline: str
    summary: str
    published_at: str
    position: int
    page: int
    tags: tuple[str, ...] = ()
    truncated: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnownItem:
    """The archive's latest version of an item."""

    item_id: int
    url: str
    headline: str
    summary: str
    content_hash: str


@dataclass(frozen=True)
class ListedItem:
    """An item the topic listed at its last sighting."""

    item_id: int
    url: str
    last_position: int
    vanished: bool


@dataclass(frozen=True)
class Edit:
    """A changed item: the merged new text, which fields changed, and how.

    ``kind`` is ``edited``, or ``filled`` when every changed field was never observed.
    """

    known: KnownItem
    sighting: Sighting
    headline: str
    summary: str
    fields: tuple[str, ...]
    kind: str = "edited"


@dataclass(frozen=True)
class Return:
    """An item whose text is again one of its recent versions (``version``)."""

    known: KnownItem
    sighting: Sighting
    version: int
    mark: bool  # the first return since the item's last edit: record it once


@dataclass
class Classification:
    """What one run changes; lists keep listing order so changes read top to bottom."""

    new: list[Sighting] = field(default_factory=list)
    edited: list[Edit] = field(default_factory=list)
    unchanged: list[Sighting] = field(default_factory=list)
    returned: list[Return] = field(default_factory=list)
    vanished: list[ListedItem] = field(default_factory=list)
    reappeared: list[ListedItem] = field(default_factory=list)


def dedupe(sightings: Iterable[Sighting]) -> list[Sighting]:
    """Keep the first sighting of each URL (a lead block or a page shift repeats items)."""
    seen: set[str] = set()
    unique = []
    for sighting in sightings:
        if sighting.url not in seen:
            seen.add(sighting.url)
            unique.append(sighting)
    return unique


def compare_text(known: KnownItem, sighting: Sighting) -> Edit | None:
    """Return the edit a sighting makes to a known item, or None when nothing changed."""
    headline = sighting.headline or known.headline
    summary = sighting.summary or known.summary
    if content_hash(headline, summary) == known.content_hash:
        return None
    headline = _observed(headline, known.headline)
    summary = _observed(summary, known.summary)
    changed = [
        (name, old)
        for name, old, new in (
            ("headline", known.headline, headline),
            ("summary", known.summary, summary),
        )
        if comparison_key(old) != comparison_key(new)
    ]
    if not changed:  # equal keys, different hash: a hash of an older rule; not an edit
        return None
    kind = "filled" if all(not comparison_key(old) for _, old in changed) else "edited"
    return Edit(known, sighting, headline, summary, tuple(name for name, _ in changed), kind)


def _observed(seen: str, known: str) -> str:
    """The known text when ``seen`` is only its mojibake (a charset label that lied)."""
    return known if is_mojibake_of(seen, known) else seen


def settle_returns(
    result: Classification,
    recent: Mapping[int, Sequence[tuple[int, str]]],
    marked: Iterable[int],
) -> Classification:
    """Turn edits that return to a recent version into :class:`Return` s.

    ``recent`` maps an item id to its recent versions (number, content hash) other than
    the current one; ``marked`` holds the items already marked alternating since their
    last edit.
    """
    already = set(marked)
    kept: list[Edit] = []
    for edit in result.edited:
        digest = content_hash(edit.headline, edit.summary)
        version = next((n for n, h in recent.get(edit.known.item_id, ()) if h == digest), None)
        if version is None:
            kept.append(edit)
        else:
            mark = edit.known.item_id not in already
            result.returned.append(Return(edit.known, edit.sighting, version, mark))
    result.edited = kept
    return result


def vanished_items(sightings: Sequence[Sighting], listed: Sequence[ListedItem]) -> list[ListedItem]:
    """Previously listed items absent from a place of the listing this run read.

    ``sightings`` is the run's listing, deduplicated, in order; ``listed`` the previous
    run's listing (positions) and the vanished items. An absent item's neighbours are the
    nearest items of the previous listing that kept their order in this run
    (:func:`kept_in_order`), so an item that moved is neither a neighbour nor evidence.
    """
    where = {sighting.url: (index, sighting.page) for index, sighting in enumerate(sightings)}
    if not where:
        return []
    previous = sorted((i for i in listed if not i.vanished), key=lambda i: i.last_position)
    steady = kept_in_order([i.url for i in previous if i.url in where], where)
    above = (-1, min(page for _, page in where.values()))  # the top of the first page read
    absent: list[ListedItem] = []
    vanished: list[ListedItem] = []
    for item in previous:
        if item.url not in where:
            absent.append(item)
        elif item.url in steady:
            below = where[item.url]
            if above[1] == below[1]:
                vanished += absent
            above, absent = below, []
    return vanished


def kept_in_order(urls: Sequence[str], where: Mapping[str, tuple[int, int]]) -> set[str]:
    """The items that kept their order: the largest subset of ``urls`` (given in their
    previous order) that this run lists in the same order; among equals, the one whose
    items were listed highest. Everything else in ``urls`` moved.

    O(n log n): the longest increasing run starting at each item (patience sorting from
    the end), then the earliest items that still complete a longest run.
    """
    values = [where[url][0] for url in urls]
    longest = [0] * len(values)
    tails: list[int] = []  # negated start values of the best runs of each length
    for i in range(len(values) - 1, -1, -1):
        k = bisect_left(tails, -values[i])
        longest[i] = k + 1
        if k == len(tails):
            tails.append(-values[i])
        else:
            tails[k] = -values[i]
    wanted, last, kept = max(longest, default=0), -1, set()
    for i, value in enumerate(values):
        if wanted and longest[i] == wanted and value > last:
            kept.add(urls[i])
            wanted, last = wanted - 1, value
    return kept


def continuity(
    sightings: Sequence[Sighting],
    listed: Sequence[ListedItem],
    new_dates: Sequence[str],
    stopped_looking: bool,
) -> Continuity:
    """How the run's listing continues the previous one, for the layout guard
    (``new_dates``: publication dates of the run's items new to the topic)."""
    where = {sighting.url: (index, sighting.page) for index, sighting in enumerate(sightings)}
    previous = [i.url for i in sorted(listed, key=lambda i: i.last_position) if not i.vanished]
    kept = kept_in_order([url for url in previous if url in where], where)
    return Continuity(len(previous), len(kept), tuple(new_dates), stopped_looking)


def classify(
    sightings: Sequence[Sighting],
    known: Mapping[str, KnownItem],
    listed: Sequence[ListedItem],
) -> Classification:
    """Classify one complete, successful run's listing against the archive's state."""
    unique = dedupe(sightings)
    result = Classification()
    for sighting in unique:
        item = known.get(sighting.url)
        if item is None:
            result.new.append(sighting)
            continue
        edit = compare_text(item, sighting)
        if edit is None:
            result.unchanged.append(sighting)
        else:
            result.edited.append(edit)
    seen = {sighting.url for sighting in unique}
    result.reappeared = [item for item in listed if item.vanished and item.url in seen]
    result.vanished = vanished_items(unique, listed)
    return result


def identity_drift(
    new: Sequence[Sighting], seen: int, absent: Mapping[str, KnownItem]
) -> dict[str, str]:
    """New URLs that are known items under another URL (session ids, a URL scheme change).

    When most of a run's items would be new while their texts are exactly those of items
    the topic listed last time and this run did not see (at least ``DRIFT_MIN`` of them:
    two articles may share a text by chance), the site changed how it links them, not
    what it lists: each such new URL maps to the one absent item with its text.
    Returns new URL -> known URL ({} when the run does not look like drift).
    """
    if not new or len(new) * 2 <= seen:
        return {}
    by_text: dict[str, list[KnownItem]] = {}
    for item in absent.values():
        if comparison_key(item.headline) or comparison_key(item.summary):
            by_text.setdefault(item.content_hash, []).append(item)
    matches = {}
    for sighting in new:
        candidates = by_text.get(content_hash(sighting.headline, sighting.summary), [])
        if len(candidates) == 1:
            matches[sighting.url] = candidates[0].url
    if (
        len(matches) < DRIFT_MIN
        or len(matches) * 2 <= len(new)
        or len(set(matches.values())) != len(matches)
    ):
        return {}
    return matches


def accepted_aliases(
    claims: Mapping[str, str],
    cards: Mapping[str, Sighting],
    known: Mapping[str, KnownItem],
) -> tuple[dict[str, str], dict[str, str]]:
    """Split ``rel=canonical`` claims (listed URL -> canonical URL) into accepted, ignored.

    A claim merges the listed URL into the canonical one, so it is ignored when it
    contradicts what the run saw: the listing shows the canonical URL as a card of a
    different text, another card of a different text claims the same canonical URL, the
    canonical item is known with a different text, or the listed URL is already an item
    of its own (two histories are never merged). ``cards`` are the run's cards by their
    listed URL.
    """
    accepted: dict[str, str] = {}
    ignored: dict[str, str] = {}
    claimants: dict[str, list[Sighting]] = {}
    for alias, url in claims.items():
        if alias != url and alias in cards:
            claimants.setdefault(url, []).append(cards[alias])
    for alias, url in claims.items():
        if alias == url:
            continue
        card = cards.get(alias)
        other = cards.get(url)
        target = known.get(url)
        rivals = [rival for rival in claimants.get(url, []) if rival.url != alias]
        contradicted = (
            alias in known
            or (card is not None and other is not None and not same_text(card, other))
            or (card is not None and target is not None and compare_text(target, card) is not None)
            or (card is not None and any(not same_text(card, rival) for rival in rivals))
        )
        (ignored if contradicted else accepted)[alias] = url
    return accepted, ignored


def same_text(one: Sighting, other: Sighting) -> bool:
    """Whether two cards show the same text, wherever both show a field."""
    return all(
        not a or not b or comparison_key(a) == comparison_key(b)
        for a, b in ((one.headline, other.headline), (one.summary, other.summary))
    )


def reads_on(
    read: Sequence[tuple[str, int]], listed: Sequence[ListedItem], canonical: Mapping[str, str]
) -> bool:
    """Whether paging should read on from the ``(url, page)`` cards read so far: an item
    the topic listed last time (``listed``) is missing from the stretch read (it may only
    have moved down), or the stretch does not yet confirm that listing (a burst of new
    items, or not the topic's list at all: archive.layout_guard). ``canonical`` maps a
    read URL to the one the archive knows it by (its aliases); the crawl's memory, from
    the archive or shipped to a node, decides where that comes from."""
    if not listed:
        return False
    sightings = dedupe(
        Sighting(canonical.get(url, url), "", "", "", index, page)
        for index, (url, page) in enumerate(read, start=1)
    )
    if vanished_items(sightings, listed):
        return True
    shape = continuity(sightings, listed, (), stopped_looking=False)
    return not confirmed(shape.kept_in_order, shape.previous_listed)
