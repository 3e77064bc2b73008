"""Random and malformed HTML: the extractor never crashes, never emits a foreign item."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topicwatch.archive.urls import is_same_site
from topicwatch.crawler.extract import extract_listing

BASE = "https://example.jp/articles/tag/nato/"
FAMILY = (Path(__file__).parent / "fixtures" / "listings" / "cocoon.html").read_text("utf-8")

TAGS = st.sampled_from(["div", "ul", "li", "a", "p", "h2", "article", "aside", "table", "tr",
                        "td", "span", "script", "time", "img", "nav", "main"])  # fmt: skip
HREFS = st.sampled_from([
    "/articles/a/", "/articles/b", "https://other.example/x/", "javascript:alert(1)",
    "mailto:x@y", "//example.jp/articles/c/", "/articles/tag/nato/page/2/", "http://[::1",
    "/articles/%zz/", "https://example.jp:99999/x", "data:text/html,hi", "",
])  # fmt: skip
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@st.composite
def html_soup(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 60))):
        tag = draw(TAGS)
        kind = draw(st.integers(0, 4))
        if kind == 0:
            parts.append(f'<{tag} href="{draw(HREFS)}" class="{draw(TEXT)}">')
        elif kind == 1:
            parts.append(f"</{tag}>")
        elif kind == 2:
            parts.append(draw(TEXT))
        elif kind == 3:
            parts.append(f'<a href="{draw(HREFS)}">{draw(TEXT)}</a>')
        else:
            parts.append(f"<{tag} data-x='{'x' * draw(st.integers(0, 5000))}'>")
    return "".join(parts)


def check(listing) -> None:
    for entry in listing.entries:
        assert entry.url.startswith(("https://", "http://"))
        assert is_same_site(entry.url, BASE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_soup())
def test_random_markup(markup):
    check(extract_listing(markup, BASE))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000))
def test_binary_junk(junk):
    check(extract_listing(junk.decode("latin-1"), BASE))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(FAMILY)), st.integers(0, 200))
def test_truncated_and_spliced_real_pages(cut, width):
    check(extract_listing(FAMILY[:cut] + FAMILY[cut + width :], BASE))


def test_deeply_nested_lists_do_not_crash():
    markup = "<ul><li>" * 2000 + '<a href="/articles/deep/">deep</a>' + "</li></ul>" * 2000
    check(extract_listing(markup, BASE))
