"""Checks of the fixture site itself, so end-to-end failures can be blamed on the crawler."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.error import HTTPError

import lxml.html
import pytest
from fixture_site import SEED_PATH, FixtureSite, load_seed_articles, make_articles

# The seed text lives outside the repository; the JSON copy is what CI relies on.
SEED_TEXT = Path(__file__).resolve().parents[2] / "shared" / "seed" / "novaist-nato-topic-page.txt"
# A proxy from the environment must never see requests meant for 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Fetched:
    status: int
    headers: Message
    body: bytes

    def tree(self) -> lxml.html.HtmlElement:
        return lxml.html.fromstring(self.body.decode("utf-8"))


def fetch(url: str, headers: dict[str, str] | None = None) -> Fetched:
    """GET without raising on 3xx-5xx: tests want to assert on every status."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=5) as response:
            return Fetched(response.status, response.headers, response.read())
    except HTTPError as error:
        with error:
            return Fetched(error.code, error.headers, error.read())


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as running:
        yield running


def card_slugs(page: Fetched) -> list[str]:
    hrefs = page.tree().xpath('//article[@class="p-card"]/a/@href')
    return [href.strip("/").rsplit("/", 1)[-1] for href in hrefs]


@pytest.mark.skipif(not SEED_TEXT.exists(), reason="shared seed text not on this machine")
def test_seed_summaries_are_the_seed_text_verbatim() -> None:
    lines = SEED_TEXT.read_text(encoding="utf-8").split("\n")
    assert [a.summary for a in load_seed_articles()] == lines[3:23]
    records = json.loads(SEED_PATH.read_text(encoding="utf-8"))
    dates = [r["published_at"] for r in records]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) == 20


def test_page_one_has_lead_and_twenty_cards(site: FixtureSite) -> None:
    page = fetch(site.topic_url())
    tree = page.tree()
    seed = load_seed_articles()
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert tree.findtext(".//title") == "NATO | novaist"
    assert tree.xpath('//a[@class="p-lead__link"]/@href') == [f"/articles/{seed[0].slug}"]
    assert card_slugs(page) == [a.slug for a in seed]
    assert tree.xpath('//p[@class="p-card__excerpt"]/text()') == [a.summary for a in seed]
    assert tree.xpath('//link[@rel="next"]') == []
    assert "本ページでは「NATO」をテーマとした記事を一覧で掲載しています。" in page.body.decode()


def test_page_two_appears_after_adding_five(site: FixtureSite) -> None:
    page_two = site.topic_url() + "page/2/"
    assert fetch(page_two).status == 404
    site.add_articles(make_articles(5))
    first = fetch(site.topic_url())
    assert card_slugs(first)[:5] == [f"later-arrival-{n}" for n in (5, 4, 3, 2, 1)]
    assert first.tree().xpath('//link[@rel="next"]/@href') == [page_two]
    second = fetch(page_two.rstrip("/"))
    assert second.status == 200
    assert card_slugs(second) == [a.slug for a in load_seed_articles()[-5:]]
    assert second.tree().xpath('//section[@class="p-lead"]') == []


def test_if_none_match_gets_304(site: FixtureSite) -> None:
    etag = fetch(site.topic_url()).headers["ETag"]
    again = fetch(site.topic_url(), {"If-None-Match": etag})
    assert (again.status, again.body, again.headers["ETag"]) == (304, b"", etag)


def test_if_modified_since_gets_304_until_a_change(site: FixtureSite) -> None:
    modified = fetch(site.topic_url()).headers["Last-Modified"]
    assert fetch(site.topic_url(), {"If-Modified-Since": modified}).status == 304
    site.remove_article("nato-arctic-sentry")
    assert fetch(site.topic_url(), {"If-Modified-Since": modified}).status == 200


def test_edit_changes_etag_and_last_modified(site: FixtureSite) -> None:
    before = fetch(site.topic_url()).headers
    site.edit_article("japan-joins-nato-purl", summary="差し替えた要約。")
    after = fetch(site.topic_url(), {"If-None-Match": before["ETag"]})
    assert after.status == 200
    assert after.headers["ETag"] != before["ETag"]
    assert after.headers["Last-Modified"] != before["Last-Modified"]
    assert "差し替えた要約。" in after.body.decode()


def test_fail_serves_503_then_recovers(site: FixtureSite) -> None:
    path = "/articles/tag/nato/"
    site.fail(path, 503, times=2, headers={"Retry-After": "7"})
    statuses = [fetch(site.topic_url()) for _ in range(3)]
    assert [r.status for r in statuses] == [503, 503, 200]
    assert statuses[0].headers["Retry-After"] == "7"


def test_hits_counts_requests_ignoring_query(site: FixtureSite) -> None:
    fetch(site.topic_url())
    fetch(site.topic_url() + "?utm_source=x")
    fetch(site.topic_url().rstrip("/"))
    assert site.hits("/articles/tag/nato/") == 2
    assert site.requests[0].method == "GET" and site.requests[0].status == 200
    site.clear_log()
    assert site.hits("/articles/tag/nato/") == 0


def test_robots_txt(site: FixtureSite) -> None:
    robots = fetch(site.base_url + "/robots.txt")
    assert (robots.status, robots.body) == (200, b"User-agent: *\nDisallow: /wp-admin/\n")


def test_article_page_and_unknown_paths(site: FixtureSite) -> None:
    article = fetch(site.article_url("us-cut-200-nato-posts").rstrip("/")).tree()
    assert article.xpath('//link[@rel="canonical"]/@href') == [
        site.article_url("us-cut-200-nato-posts")
    ]
    assert article.findtext('.//h1[@class="entry-title"]').startswith("米国がNATO司令組織")
    assert fetch(site.article_url("no-such-story")).status == 404
    assert fetch(site.topic_url("unknown")).status == 404


def test_headline_only_in_alt_when_hidden(site: FixtureSite) -> None:
    site.headline_in_listing = False
    tree = fetch(site.topic_url()).tree()
    assert tree.xpath('//h3[@class="p-card__title"]') == []
    alts = tree.xpath('//article[@class="p-card"]//img/@alt')
    assert alts[0] == "英国が兵器共同調達の新枠組み提案へ、欧州再軍備を加速"


def test_japanese_tag_is_percent_encoded(site: FixtureSite) -> None:
    site.set_listing("英国", load_seed_articles()[:1])
    assert site.topic_url("英国").endswith("/articles/tag/%e8%8b%b1%e5%9b%bd/")
    page = fetch(site.topic_url("英国"))
    assert page.tree().findtext(".//title") == "英国 | novaist"


def test_make_articles_is_deterministic_and_newest_first() -> None:
    batch = make_articles(3, start=4)
    assert [a.slug for a in batch] == ["later-arrival-6", "later-arrival-5", "later-arrival-4"]
    assert batch == make_articles(3, start=4)
    assert all(120 <= len(a.summary) <= 140 for a in make_articles(30))
    assert len({a.summary for a in make_articles(30)}) == 30
    times = [a.published_at for a in batch]
    assert times == sorted(times, reverse=True) and times[-1].startswith("2026-02-14")
