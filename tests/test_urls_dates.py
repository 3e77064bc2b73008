"""URL identity and date parsing: the small rules every item depends on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from topicwatch.archive.urls import PageUrls, canonical_url, looks_like_article
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


# Issue 12, second attack: sessions and click ids in other places, and ids that only look
# like sessions. Both resolution paths (PageUrls' fast root-relative one and
# canonical_url) must agree.
ARTICLE = "https://novaist.jp/articles/nato-arctic-sentry-2/"
TOKEN = "8f14e45fceea167a5a36dedd4b4d9a1c"


def both(href: str) -> str | None:
    fast, slow = PageUrls(BASE).canonical(href), canonical_url(href, BASE)
    assert fast == slow, href
    return fast


@pytest.mark.parametrize(
    "href",
    [
        "/(S(lit3py55t21z5v55vlm25s55))/articles/nato-arctic-sentry-2/",
        "/(X(1)S(lit3py55t21z5v55vlm25s55))/articles/nato-arctic-sentry-2",
        "/articles/(S(abcdefghijklmnopqrstuvwx))/nato-arctic-sentry-2/",
        f"/articles/nato-arctic-sentry-2;jsessionid={TOKEN.upper()}",
        f"/articles/nato-arctic-sentry-2;sid={TOKEN}/",
        f"/articles/nato-arctic-sentry-2/?sid={TOKEN}",
        f"/articles/nato-arctic-sentry-2/?SID={TOKEN.upper()}&session={TOKEN}",
        "/articles/nato-arctic-sentry-2/?utm_id=1&ttclid=a&twclid=b&igsh=c&li_fat_id=d",
        "/articles/nato-arctic-sentry-2/?srsltid=AfmBOo&_ga=2.1.2-3&_gl=1*x&fbclid=z",
        "/articles/nato-\narctic-sentry-2/",
        "/articles/nato-arctic-sentry-2/\t",
        "/articles/nato-arctic-sentry-2/index.html",
        "/articles/nato-arctic-sentry-2/INDEX.PHP",
    ],
)
def test_sessions_and_click_ids_make_no_identity(href):
    assert both(href) == ARTICLE


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("/story.php?sid=123", "/story.php?sid=124"),  # sid as a story id
        ("/story.php?sid=20240101a", "/story.php?sid=20240101b"),
        ("/story.php?sid=news20241203a001", "/story.php?sid=news20241203a002"),
        ("/story.php?sid=long-article-slug-here", "/story.php?sid=other-article-slug"),
        ("/articles/x;sid=123/", "/articles/x;sid=124/"),
        ("/articles/caf%E9/", "/articles/caf%E8/"),  # Latin-1 escapes: no U+FFFD for both
        ("/articles/x/?id=%e9", "/articles/x/?id=%e8"),
        ("/articles/x/myindex.html", "/articles/x/"),  # only a directory index is the directory
    ],
)
def test_ids_that_look_like_sessions_keep_their_identity(a, b):
    assert both(a) != both(b)
    assert both(a) is not None


def test_non_utf8_escapes_are_kept_as_published():
    assert both("/articles/caf%e9/") == "https://novaist.jp/articles/caf%E9/"


DECEMBER_3RD = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)  # 09:00 JST


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("２０２６年１２月３日", "2026-12-03T00:00:00+09:00"),  # full-width digits
        ("２０２６．１２．０３　１０：２０", "2026-12-03T10:20:00+09:00"),
        ("３時間前", "2026-12-03T06:00:00+09:00"),
        ("3 時間 前", "2026-12-03T06:00:00+09:00"),
        ("2週前", "2026-11-19T09:00:00+09:00"),
        ("3年前", "2023-12-04T09:00:00+09:00"),
        ("3 hours ago", "2026-12-03T06:00:00+09:00"),
        ("Updated 5 mins ago", "2026-12-03T08:55:00+09:00"),
        ("2 months ago", "2026-10-04T09:00:00+09:00"),
    ],
)
def test_dates_in_other_widths_and_units_are_read(text, expected):
    assert parse_date(text, fetched_at=DECEMBER_3RD) == expected


@pytest.mark.parametrize("text", ["2024年", "第3回", "3 hours", "ago"])
def test_texts_that_are_no_dates_stay_none(text):
    assert parse_date(text, fetched_at=DECEMBER_3RD) == ""
