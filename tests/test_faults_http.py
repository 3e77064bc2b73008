"""The fault matrix, network to listing: every row crawled for real against a faulty site.

Each case starts from a copy of one baseline archive (the seed listing, crawled once per
module) and a site reset to that same listing, so any change a faulty run records is a
false one. Per row: the exit status, the run's status/reason/error, and nothing lost.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from functools import cache, partial

import pytest
from conftest import Crawl, rows
from fault_checks import (  # noqa: F401 (fixtures)
    TOPIC_PATH,
    Case,
    as_params,
    assert_nothing_lost,
    assert_outcome,
    baseline_fixture,
    case_fixture,
    fault_site_fixture,
)
from fault_matrix import rows as matrix_rows
from fault_site import HANG, STALL, TRUNCATE, UNSIZED, Witness, gzip_bomb
from fixture_site import load_seed_articles, make_articles

SEED = load_seed_articles()
FAULTS = matrix_rows("network", "content", "listing")
SCENARIOS: dict[str, Callable[[Case], Crawl]] = {}
P = TOPIC_PATH


def scenario(fault_id: str) -> Callable[[Callable[[Case], Crawl]], Callable[[Case], Crawl]]:
    def register(function: Callable[[Case], Crawl]) -> Callable[[Case], Crawl]:
        SCENARIOS[fault_id] = function
        return function

    return register


@pytest.mark.parametrize("fault", as_params(FAULTS))
def test_fault(fault, case):
    before = case.state()
    crawl = SCENARIOS[fault.id](case)
    assert_outcome(fault, crawl)
    assert_nothing_lost(before, case.state())


def test_every_row_has_a_scenario():
    assert set(SCENARIOS) == {fault.id for fault in FAULTS}


# --------------------------------------------------------------------------- network


def _status(status: int, retry_after: str, persistent: bool, case: Case) -> Crawl:
    headers = {"Retry-After": retry_after} if retry_after else {}
    case.site.fail(P, status, times=None if persistent else 1, headers=headers)
    crawl = case.crawl()
    arrivals = case.site.arrivals(P)
    assert len(arrivals) == 2  # RETRY_TIMES=1: one retry, then success or failure
    if retry_after:
        assert arrivals[1] - arrivals[0] >= float(retry_after) - 0.05
    return crawl


for _code, _after in ((429, "1"), (503, "0"), (500, ""), (502, ""), (504, "")):
    SCENARIOS[f"http-{_code}-transient"] = partial(_status, _code, _after, False)
    SCENARIOS[f"http-{_code}-persistent"] = partial(_status, _code, _after, True)


@scenario("retry-after-too-long")
def _retry_after_too_long(case: Case) -> Crawl:
    case.site.fail(P, 503, headers={"Retry-After": "3600"})
    crawl = case.crawl()
    assert case.site.hits(P) == 1
    return crawl


@scenario("retry-after-date-minus-zero")
def _retry_after_past_date(case: Case) -> Crawl:
    past = "Wed, 21 Oct 2015 07:28:00 -0000"
    case.site.fail(P, 503, times=1, headers={"Retry-After": past})
    crawl = case.crawl(RETRY_BACKOFF_BASE="30")  # a backoff instead of "now" would show
    first, second = case.site.arrivals(P)
    assert second - first < 15
    return crawl


@scenario("retry-after-unreadable")
def _retry_after_unreadable(case: Case) -> Crawl:
    for value in ("soon", "\u00b2", "-5", "Wed, 32 Oct 2015 07:28:00 GMT"):
        case.site.fail(P, 503, times=1, headers={"Retry-After": value})
        crawl = case.crawl(RETRY_BACKOFF_BASE="0.5")
        first, second = case.site.arrivals(P)[-2:]
        assert second - first >= 0.45, value  # waited the ordinary backoff
        assert crawl.returncode == 0, (value, crawl.stderr)
    return crawl


def _gone(status: int, case: Case) -> Crawl:
    case.site.fail(P, status)
    crawl = case.crawl()
    assert case.site.hits(P) == 1  # a 404/410 is an answer, not an outage: no retry
    return crawl


SCENARIOS["http-404"] = partial(_gone, 404)
SCENARIOS["http-410"] = partial(_gone, 410)


@scenario("refused")
def _refused(case: Case) -> Crawl:
    url = case.site.topic_url()
    with case.site.down():
        return case.crawl(url=url)


@scenario("dns")
def _dns(case: Case) -> Crawl:
    return case.crawl("--topic", "dns-fault", url="http://topicwatch-fault.invalid/a/tag/nato/")


@scenario("read-timeout")
def _read_timeout(case: Case) -> Crawl:
    case.site.deliver(P, STALL)
    return case.crawl()


class EndlessHeaders:
    """A raw server on 127.0.0.1: every answer a status line, then 8 KB header lines
    without end, as fast as they are read; counts the bytes it got out."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}{P}"
        self.sent = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        line = b"X-Pad: " + b"b" * 8000 + b"\r\n"
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while True:
                conn.sendall(line)
                self.sent += len(line)

    def __enter__(self) -> EndlessHeaders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()


@scenario("endless-headers")
def _endless_headers(case: Case) -> Crawl:
    with EndlessHeaders() as server:
        started = time.monotonic()
        crawl = case.crawl(url=server.url)
        assert time.monotonic() - started < 60
        assert server.sent < 256 * 1024 * 1024  # it was 3 GB within an 8 s timeout
    return crawl


@scenario("never-answers")
def _never_answers(case: Case) -> Crawl:
    case.site.deliver(P, HANG)
    return case.crawl()


# --------------------------------------------------------------------------- bodies

MAXSIZE = 10 * 1024 * 1024


@scenario("truncated")
def _truncated(case: Case) -> Crawl:
    case.site.deliver(P, TRUNCATE)
    return case.crawl()


@scenario("empty-200")
def _empty(case: Case) -> Crawl:
    case.site.serve_raw(P, b"")
    return case.crawl()


def _too_large(delivery: str | None, case: Case) -> Crawl:
    page = case.site.page_bytes(P)
    case.site.serve_raw(P, page + b"<!--" + b"x" * MAXSIZE + b"-->")
    if delivery:
        case.site.deliver(P, delivery)
    return case.crawl()


SCENARIOS["too-large"] = partial(_too_large, None)
SCENARIOS["too-large-unsized"] = partial(_too_large, UNSIZED)


@cache
def _bomb() -> bytes:
    return gzip_bomb()


@scenario("gzip-bomb")
def _gzip_bomb(case: Case) -> Crawl:
    assert len(_bomb()) < 100_000
    case.site.serve_raw(P, _bomb(), headers={"Content-Encoding": "gzip"})
    return case.crawl()


@scenario("redirect-loop")
def _redirect_loop(case: Case) -> Crawl:
    case.site.serve_raw(P, b"", status=302, headers={"Location": P})
    return case.crawl()


@scenario("redirect-offsite")
def _redirect_offsite(case: Case) -> Crawl:
    with Witness() as elsewhere:
        case.site.serve_raw(P, b"", status=301, headers={"Location": elsewhere.base_url + P})
        crawl = case.crawl()
        assert not elsewhere.was_contacted()
    return crawl


@scenario("not-html")
def _not_html(case: Case) -> Crawl:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    case.site.serve_raw(P, pdf, headers={"Content-Type": "application/pdf"})
    return case.crawl()


@scenario("invalid-bytes")
def _invalid_bytes(case: Case) -> Crawl:
    page = case.site.page_bytes(P)
    summary = SEED[3].summary.encode()
    broken = summary[:12] + b"\xff\xfe" + summary[12:]
    assert page.count(summary) == 1
    case.site.serve_raw(P, page.replace(summary, broken))
    crawl = case.crawl()
    assert crawl.run["items_seen"] == 20
    return crawl


@scenario("wrong-charset-header")
def _utf8_labelled_shift_jis(case: Case) -> Crawl:
    page = case.site.page_bytes(P)
    case.site.serve_raw(P, page, headers={"Content-Type": "text/html; charset=Shift_JIS"})
    return case.crawl()


@scenario("wrong-charset-utf8")
def _shift_jis_labelled_utf8(case: Case) -> Crawl:
    text = case.site.page_bytes(P).decode("utf-8").replace('charset="UTF-8"', 'charset="Shift_JIS"')
    case.site.serve_raw(P, text.encode("cp932"))  # the header still says UTF-8
    return case.crawl()


def malformed(page: str) -> str:
    """Errors browsers shrug off; the card markup itself stays whole."""
    page = page.replace("</p>", "").replace("</li>", "").replace("</body>", "")
    page = page.replace("</html>", "").replace("<main", "</div></span></section><main", 1)
    page = re.sub(r'(<(?:nav|header|footer|section)[^>]*) class="([\w-]+)"', r"\1 class=\2", page)
    return page.replace("<footer", "<p>Q&A <3 & more</p><footer", 1)


@scenario("malformed-html")
def _malformed_html(case: Case) -> Crawl:
    case.site.serve_raw(P, malformed(case.site.page_bytes(P).decode()).encode())
    crawl = case.crawl()
    assert crawl.run["items_seen"] == 20
    return crawl


@scenario("malformed-cards")
def _malformed_cards(case: Case) -> Crawl:
    page = case.site.page_bytes(P).decode()
    closing = "</time></div></a></article>"
    assert page.count(closing) == 20
    case.site.serve_raw(P, page.replace(closing, "</time></a></article>", 6).encode())
    crawl = case.crawl()
    assert crawl.run["items_seen"] == 20
    return crawl


# --------------------------------------------------------------------------- the listing


@scenario("page-shift-down")
def _page_shift_down(case: Case) -> Crawl:
    case.site.per_page = 12
    case.site.after_serving(P, lambda: case.site.add_articles(make_articles(1)))
    crawl = case.crawl("--pages", "2")
    run = crawl.run
    assert (run["pages"], run["items_seen"]) == (2, 20)  # SEED[11] was on both pages
    return crawl


@scenario("page-shift-up")
def _page_shift_up(case: Case) -> Crawl:
    case.site.per_page = 12
    case.site.after_serving(P, lambda: case.site.remove_article(SEED[2].slug))
    crawl = case.crawl("--pages", "2")
    run = crawl.run
    assert (run["pages"], run["items_seen"]) == (2, 19)  # SEED[12] moved up, unseen
    return crawl


def _card(page: str, slug: str) -> str:
    match = re.search(rf'<article class="p-card">(?:(?!</article>).)*/{slug}/.*?</article>', page)
    assert match is not None
    return match.group(0)


@scenario("duplicate-url-variants")
def _duplicate_url_variants(case: Case) -> Crawl:
    page = case.site.page_bytes(P).decode()
    card = _card(page, SEED[5].slug)
    twin = card.replace(f"/articles/{SEED[5].slug}/", f"/articles/{SEED[5].slug}?utm_source=feed")
    case.site.serve_raw(P, page.replace(card, card + twin).encode())
    crawl = case.crawl()
    assert crawl.run["items_seen"] == 20
    return crawl


@scenario("duplicate-url-alias")
def _duplicate_url_alias(case: Case) -> Crawl:
    slug = SEED[5].slug
    page = case.site.page_bytes(P).decode()
    card = _card(page, slug)
    alias = f"/articles/{slug}-amp/"
    twin = card.replace(f"/articles/{slug}/", alias)
    case.site.serve_raw(P, page.replace(card, card + twin).encode())
    case.site.serve_raw(alias, case.site.page_bytes(f"/articles/{slug}/"))
    crawl = case.crawl()
    assert case.site.hits(alias) == 1  # the unknown URL's page was read once, for its canonical
    assert rows(case.db, "SELECT url FROM url_aliases") == [(case.site.article_url(slug),)]
    return crawl


@scenario("layout-change")
def _layout_change(case: Case) -> Crawl:
    page = case.site.page_bytes(P).decode()
    page = re.sub(r'<section class="p-(lead|topic-list)">.*?</section>', "", page, flags=re.S)
    case.site.serve_raw(P, page.encode())
    return case.crawl()


@scenario("list-collapsed")
def _list_collapsed(case: Case) -> Crawl:
    page = case.site.page_bytes(P).decode()
    for article in SEED[5:]:
        page = page.replace(_card(page, article.slug), "")
    case.site.serve_raw(P, page.encode())
    return case.crawl()


@scenario("summaries-gone")
def _summaries_gone(case: Case) -> Crawl:
    page = case.site.page_bytes(P).decode()
    page = re.sub(r'<p class="p-(card|lead)__excerpt">.*?</p>', "", page, flags=re.S)
    case.site.serve_raw(P, page.encode())
    crawl = case.crawl()
    assert (crawl.run["items_seen"], crawl.run["summary_coverage"]) == (20, 0.0)
    return crawl
