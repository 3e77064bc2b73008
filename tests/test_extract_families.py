"""Golden tests: every markup family in tests/fixtures/listings/ extracts exactly."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from topicwatch.crawler.extract import extract_listing

LISTINGS = Path(__file__).parent / "fixtures" / "listings"
FAMILIES = sorted(path.stem for path in LISTINGS.glob("*.json"))
FETCHED = datetime(2026, 2, 13, 3, 0, tzinfo=UTC)
CONTRACT = ("url", "headline", "summary", "published_at")  # the golden files' fields


def load(family: str) -> tuple[str, dict]:
    html = (LISTINGS / f"{family}.html").read_text(encoding="utf-8")
    return html, json.loads((LISTINGS / f"{family}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("family", FAMILIES)
def test_family_extracts_exactly(family):
    html, golden = load(family)
    listing = extract_listing(html, golden["base_url"], fetched_at=FETCHED)
    items = [{name: asdict(entry)[name] for name in CONTRACT} for entry in listing.entries]
    assert items == golden["items"], listing.diagnostics
    assert listing.next_url == golden["next_page"]
    assert listing.cleaned == 0  # well-formed pages: nothing cut, repaired or dropped


def test_at_least_eight_families():
    assert len(FAMILIES) >= 8
