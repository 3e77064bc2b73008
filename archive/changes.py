"""Pure change detection: compare one run's listing with what the archive knew.

No I/O here, so every rule can be tested exhaustively (and property-tested) on plain values.

Rules (the public contract, see docs/schema.md):

* **new** – a URL the archive never had.
* **edited** – headline or summary differs from the latest version after normalising
  (NFKC, whitespace ignored: see :func:`archive.text.comparison_key`). A field the listing
  did not show this time (empty) is "not observed", never an edit: a partial layout break
  must not rewrite history.
* **vanished** – a listed item is absent although the run read the stretch of the listing
  where it stood: some page of this run holds items that were listed both above and below
  it last time (or, on the first page read, any item listed below it). Items that only
  scrolled past the last page read are not vanished.
* **reappeared** – an item marked vanished is listed again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from archive.text import comparison_key, content_hash


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
    """An edited item: the merged new text and which fields changed."""

    known: KnownItem
    sighting: Sighting
    headline: str
    summary: str
    fields: tuple[str, ...]


@dataclass
class Classification:
    """What one run changes; lists keep listing order so changes read top to bottom."""

    new: list[Sighting] = field(default_factory=list)
    edited: list[Edit] = field(default_factory=list)
    unchanged: list[Sighting] = field(default_factory=list)
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
    fields = tuple(
        name
        for name, old, new in (
            ("headline", known.headline, headline),
            ("summary", known.summary, summary),
        )
        if comparison_key(old) != comparison_key(new)
    )
    return Edit(known, sighting, headline, summary, fields)


def vanished_items(sightings: Sequence[Sighting], listed: Sequence[ListedItem]) -> list[ListedItem]:
    """Listed items absent from a stretch of the listing this run actually read."""
    previous = {item.url: item.last_position for item in listed if not item.vanished}
    spans = _page_spans(sightings, previous)
    seen = {sighting.url for sighting in sightings}
    return [
        item
        for item in sorted(listed, key=lambda item: item.last_position)
        if not item.vanished
        and item.url not in seen
        and any(low < item.last_position < high for low, high in spans)
    ]


def _page_spans(
    sightings: Sequence[Sighting], previous: Mapping[str, int]
) -> list[tuple[int, int]]:
    """Per page read, the open interval of last-run positions that page provably covers.

    The first page read starts at the top of the listing, so its span opens at 0.
    """
    by_page: dict[int, list[int]] = {}
    for sighting in sightings:
        if sighting.url in previous:
            by_page.setdefault(sighting.page, []).append(previous[sighting.url])
    first_page = min((s.page for s in sightings), default=0)
    return [
        (0 if page == first_page else min(positions), max(positions))
        for page, positions in by_page.items()
    ]


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
