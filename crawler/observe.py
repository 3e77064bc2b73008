"""One path from a listing page's bytes to what the archive is told the page listed.

The crawl and ``topicwatch reparse`` both read pages through :func:`observe_listing`, so
they cannot disagree about a page: the same decoding (w3lib's rules, as Scrapy's
``TextResponse``, then the charset rules of :mod:`crawler.charset`), the same extraction,
the same "a duplicate card keeps its first sighting", the same "a field garbled by
undecodable bytes is not observed".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from w3lib.encoding import html_to_unicode

from topicwatch.crawler import EXTRACTOR_VERSION
from topicwatch.crawler.charset import Decoded, decode_page
from topicwatch.crawler.extract import Listing, Selectors, extract_listing
from topicwatch.crawler.extracted import Entry

# extract_listing's shape (reparse tests a candidate extractor through the same path).
Extractor = Callable[..., Listing]
_GARBLED_URL = "%EF%BF%BD"  # U+FFFD, percent-encoded by URL canonicalisation


@dataclass(frozen=True)
class PageObservation:
    """A listing page as observed: its entries in page order (each URL once), its next
    page, how the list was found, and why the page cannot be used (``failure``), if so."""

    entries: list[Entry] = field(default_factory=list)
    next_url: str | None = None
    method: str = "none"
    diagnostics: str = ""
    failure: str = ""
    cleaned: int = 0  # card fields the extractor cut, repaired or dropped


def decode_body(body: bytes, content_type: str | None) -> Decoded:
    """The page's text as the crawl reads it, and whether bytes were undecodable."""
    encoding, text = html_to_unicode(content_type, body)
    return decode_page(body, encoding, text)


def observe_listing(
    body: bytes,
    content_type: str | None,
    url: str,
    *,
    selectors: Selectors | None = None,
    fetched_at: datetime | None = None,
    extract: Extractor = extract_listing,
) -> PageObservation:
    """What one listing page lists (see the module docstring)."""
    text, lossy = decode_body(body, content_type)
    listing = extract(text, url, selectors=selectors, fetched_at=fetched_at)
    entries = first_of_each(listing.entries)
    failure = ""
    if lossy:
        if any(_GARBLED_URL in entry.url for entry in entries):
            failure = f"undecodable bytes in item links ({url})"
            entries = []
        entries = [_observed(entry) for entry in entries]
    return PageObservation(
        entries, listing.next_url, listing.method, listing.diagnostics, failure, listing.cleaned
    )


def extraction_of(url: str, content_type: str | None, selectors: Selectors | None) -> str:
    """Everything besides the body that decides what :func:`observe_listing` reads from a
    page: the extractor version, then a digest of the page's final URL (links resolve
    against it), its Content-Type (the charset) and the topic's selectors. The same body
    with the same extraction lists the same items, so a check that receives it again
    records the page unchanged, as a 304, without extracting it."""
    reading = [url, content_type, asdict(selectors) if selectors is not None else None]
    digest = hashlib.sha256(json.dumps(reading, sort_keys=True).encode()).hexdigest()
    return f"{EXTRACTOR_VERSION} {digest[:16]}"


def body_sha256(body: bytes) -> str:
    """The body's identity, as the archive's snapshots name it (``snapshots.sha256``)."""
    return hashlib.sha256(body).hexdigest()


def first_of_each(entries: list[Entry]) -> list[Entry]:
    """Each URL once, at its first sighting (a lead block repeats the top item)."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.url not in seen:
            seen.add(entry.url)
            unique.append(entry)
    return unique


def _observed(entry: Entry) -> Entry:
    """Blank fields garbled by undecodable bytes: not observed, so never an edit."""
    return replace(
        entry,
        headline="" if "\ufffd" in entry.headline else entry.headline,
        summary="" if "\ufffd" in entry.summary else entry.summary,
    )
