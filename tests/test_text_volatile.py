"""Volatile edge fragments (archive.text): relative times, counters and badges that stand
apart at a field's edges are no part of it; the same words inside the field are."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topicwatch.archive.text import is_volatile, strip_volatile_chunks, strip_volatile_edges

HEADLINE = "英国が兵器共同調達の新枠組み提案へ"


@pytest.mark.parametrize(
    "fragment",
    [
        "48分前", "3時間前", "2日前", "1週間前", "4ヶ月前", "約3時間前", "15分前に更新",
        "更新：5分前", "３分前", "5 min ago", "2 hours ago", "an hour ago", "just now",
        "たった今", "昨日", "1,234 views", "52PV", "閲覧数 52", "閲覧 1.2万", "👁 120",
        "👁️120", "♡ 8", "いいね 3", "コメント 12", "120回閲覧", "NEW", "NEW!", "new!",
        "New!!", "UP", "UP!", "更新", "新着", "HOT", "【NEW】", "[UP]", "（3分前）",
    ],
)  # fmt: skip
def test_a_volatile_fragment_at_either_edge_is_dropped(fragment):
    assert is_volatile(fragment)
    assert strip_volatile_edges(f"{HEADLINE} {fragment}") == HEADLINE
    assert strip_volatile_edges(f"{fragment} {HEADLINE}") == HEADLINE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3日前の地震で被害拡大", "3日前の地震で被害拡大"),  # not a separate fragment
        ("規約を更新", "規約を更新"),
        ("北極圏監視 NEW START後継協議", "北極圏監視 NEW START後継協議"),  # not at an edge
        ("続報(2)", "続報(2)"),  # a bare number is no counter
        ("第3回 NATO会議 2026", "第3回 NATO会議 2026"),
        ("Prices go up", "Prices go up"),  # lower-case "up" needs its "!"
        ("見出し 1,234 views 3分前 NEW", "見出し"),  # several, one after another
        ("見出し | 3分前", "見出し"),  # with the separator before it
        ("【NEW】見出し(5分前)", "見出し"),  # bracketed, glued
        ("NEW 3分前", ""),  # nothing but fragments: no text at all
        ("", ""),
    ],
)
def test_only_separate_edge_fragments_go(text, expected):
    assert strip_volatile_edges(text) == expected


def test_element_edges_set_fragments_apart_like_whitespace():
    """The crawler passes words split at element edges: <span>見出し</span><span>48分前</span>."""
    assert strip_volatile_chunks(["見出し", "48分前"]) == ["見出し"]
    assert strip_volatile_chunks(["見出し", "閲覧数", " ", "52"]) == ["見出し"]
    assert strip_volatile_chunks(["NEW", "見出し", " ", "です"]) == ["見出し", " ", "です"]
    assert strip_volatile_chunks(["3日前の地震"]) == ["3日前の地震"]


@given(st.text())
def test_what_is_kept_is_a_slice_of_the_text(text):
    assert strip_volatile_edges(text) in text


def test_stripping_is_linear():
    """200,000 fragments, and a 3 MB word: seconds at most (a quadratic rule: hours)."""
    started = time.process_time()
    assert strip_volatile_edges("見出し " + "NEW 3分前 " * 100_000) == "見出し"
    assert strip_volatile_edges("NEW " + "…" * 3_000_000) == "…" * 3_000_000
    assert time.process_time() - started < 20
