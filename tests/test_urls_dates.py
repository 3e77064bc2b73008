"""URL identity and date parsing: the small rules every item depends on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from topicwatch.archive.urls import canonical_url, looks_like_article
from topicwatch.crawler.dates import parse_date

BASE = "https://novaist.jp/articles/tag/nato/"


@pytest.mark.parametrize(
    "href",
    [
        "/articles/nato-arctic-sentry-2",
        "/articles/nato-arctic-sentry-2/",
        "https://novaist.jp/articles/nato-arctic-sentry-2/#comments",
        "http://novaist.jp/articles/nato-arctic-sentry-2/?utm_source=x&fbclid=1",
        "https://WWW.NOVAIST.JP:443/articles/nato-arctic-sentry-2",
        "../nato-arctic-sentry-2/?gclid=abc",
    ],
)
def test_variants_of_one_article_fold_to_one_url(href):
    expected = "https://novaist.jp/articles/nato-arctic-sentry-2/"
    if href.startswith("../"):
        href = "/articles/tag/" + href
    assert canonical_url(href, BASE) == expected


def test_percent_escape_case_is_folded():
    lower = canonical_url("/articles/tag/%e8%8b%b1%e5%9b%bd", BASE)
    assert lower == canonical_url("/articles/tag/%E8%8B%B1%E5%9B%BD/", BASE)
    assert lower == canonical_url("/articles/tag/英国", BASE)


@pytest.mark.parametrize("href", ["javascript:void(0)", "mailto:a@b.jp", "tel:03", "#top", ""])
def test_non_http_links_are_refused(href):
    assert canonical_url(href, BASE) is None


@pytest.mark.parametrize(
    ("href", "article"),
    [
        ("/articles/uk-proposes-joint-defence-buy/", True),
        ("/articles/tag/英国/", False),
        ("/articles/category/world/page/2/", False),
        ("/author/editor/", False),
        ("/articles/tag/nato/page/2/", False),
        ("/wp-content/uploads/a.jpg", False),
        ("https://twitter.com/share?url=x", False),
        ("/", False),
    ],
)
def test_article_urls(href, article):
    url = canonical_url(href, BASE)
    assert url is not None
    assert looks_like_article(url, BASE) is article


FETCHED = datetime(2026, 2, 13, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-13T10:20:00+09:00", "2026-02-13T10:20:00+09:00"),
        ("2026-02-13T01:20:00Z", "2026-02-13T01:20:00+00:00"),
        ("2026年2月13日", "2026-02-13T00:00:00+09:00"),
        ("2026.02.13", "2026-02-13T00:00:00+09:00"),
        ("2026/02/13 10:20", "2026-02-13T10:20:00+09:00"),
        ("公開日：2026年2月13日 10時20分", "2026-02-13T10:20:00+09:00"),
        ("3時間前", "2026-02-13T09:00:00+09:00"),
        ("15分前", "2026-02-13T11:45:00+09:00"),
        ("2日前", "2026-02-11T12:00:00+09:00"),
        ("no date here", ""),
        ("2026年2月31日", ""),
    ],
)
def test_dates(text, expected):
    assert parse_date(text, fetched_at=FETCHED) == expected
