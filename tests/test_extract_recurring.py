"""A process remembers the texts of cards it has read (crawler.recurring): a listing read
again gives exactly what reading it afresh gives, and a card whose markup changed is read
anew."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from topicwatch.crawler import extract
from topicwatch.crawler.extract import extract_listing
from topicwatch.crawler.recurring import RecentResults

LISTINGS = Path(__file__).parent / "fixtures" / "listings"
FAMILIES = sorted(path.stem for path in LISTINGS.glob("*.json"))
FETCHED = datetime(2026, 2, 13, 3, 0, tzinfo=UTC)


def _read(html: str, url: str) -> list[dict]:
    listing = extract_listing(html, url, fetched_at=FETCHED)
    return [asdict(entry) for entry in listing.entries]


@pytest.fixture
def fresh_memory(monkeypatch):
    memory: RecentResults[object] = RecentResults(budget=2**20, largest=2**16)
    monkeypatch.setattr(extract, "_CARD_READINGS", memory)
    return memory


@pytest.mark.parametrize("family", FAMILIES)
def test_read_again_is_read_afresh(family, fresh_memory, monkeypatch):
    html = (LISTINGS / f"{family}.html").read_text(encoding="utf-8")
    url = json.loads((LISTINGS / f"{family}.json").read_text(encoding="utf-8"))["base_url"]
    first = _read(html, url)
    assert _read(html, url) == first  # from memory
    monkeypatch.setattr(extract, "_CARD_READINGS", RecentResults(budget=0, largest=0))
    assert _read(html, url) == first  # nothing remembered


def test_a_changed_card_is_read_anew(fresh_memory):
    html = (LISTINGS / "cocoon.html").read_text(encoding="utf-8")
    url = json.loads((LISTINGS / "cocoon.json").read_text(encoding="utf-8"))["base_url"]
    first = _read(html, url)
    headline = first[0]["headline"]
    edited = html.replace(headline, headline + "、英国も")
    assert edited != html
    again = _read(edited, url)
    assert again[0]["headline"] == headline + "、英国も"
    assert again[1:] == first[1:]


def test_memory_stays_within_its_budget():
    memory: RecentResults[int] = RecentResults(budget=100, largest=60)
    for key in range(10):
        assert memory.get(key, 30, lambda key=key: key * 2) == key * 2
    assert len(memory) == 3  # 3 x 30 bytes within 100
    assert memory.get(9, 30, lambda: -1) == 18  # remembered
    assert memory.get("huge", 61, lambda: 5) == 5
    assert memory.get("huge", 61, lambda: 6) == 6  # too big to remember


def test_a_relative_date_is_read_against_each_fetch(fresh_memory):
    cards = "".join(
        f'<article class="post"><h2><a href="/articles/item-{n}/">見出し{n}の記事</a></h2>'
        f"<p>これは{n}番目の記事の要約で、二十文字を超える長さがあります。</p>"
        f'<span class="date">{n}時間前</span></article>'
        for n in range(1, 5)
    )
    html = f"<html><body><main><div class='posts'>{cards}</div></main></body></html>"
    url = "https://example.jp/tag/nato/"
    first = extract_listing(html, url, fetched_at=FETCHED).entries
    later = datetime(2026, 2, 13, 5, 0, tzinfo=UTC)
    again = extract_listing(html, url, fetched_at=later).entries  # texts from memory
    assert len(fresh_memory) == 4
    assert [entry.headline for entry in again] == [entry.headline for entry in first]
    assert [datetime.fromisoformat(entry.published_at) for entry in again] == [
        datetime.fromisoformat(entry.published_at) + (later - FETCHED) for entry in first
    ]
    assert first[0].published_at == "2026-02-13T11:00:00+09:00"
