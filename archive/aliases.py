"""Which item a listed URL stands for: itself, unless ``url_aliases`` names another.

An article known under a second URL (its page's ``rel=canonical``, or the same listed
texts under new links: identity drift) keeps one item; every reader that turns a listed
URL into an item — the commit, the crawl's memory, enrichment, reparse — asks here, so
they cannot disagree about which item a URL is.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from topicwatch.archive.batches import chunks


def canonical_urls(db: sqlite_utils.Database, urls: Iterable[str]) -> dict[str, str]:
    """alias -> item URL, for those of ``urls`` that are aliases (batched lookups)."""
    found: dict[str, str] = {}
    for chunk in chunks(sorted(set(urls))):
        marks = ",".join("?" * len(chunk))
        found.update(
            db.execute(f"SELECT alias, url FROM url_aliases WHERE alias IN ({marks})", list(chunk))
        )
    return found


def resolve_url(db: sqlite_utils.Database, url: str) -> str:
    """The item URL a listed URL stands for."""
    return canonical_urls(db, [url]).get(url, url)
