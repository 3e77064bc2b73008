"""Legacy Japanese encodings read correctly wherever (or whether) the charset is declared."""

from __future__ import annotations

import html

import pytest
from conftest import rows, run_crawl
from fixture_site import load_seed_articles

SEED = load_seed_articles()[:6]
CP932_ONLY = "①～髙"  # circled digit, wave dash variant, IBM-extension kanji


def listing(charset_meta: str | None, extra: str = "") -> str:
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    cards = "".join(
        f'<article class="post"><h2 class="entry-title"><a href="/articles/{a.slug}/">'
        f"{html.escape(a.headline)}</a></h2><div class='entry-summary'><p>"
        f"{html.escape(a.summary)}{extra}</p></div></article>"
        for a in SEED
    )
    return f"<html><head>{meta}<title>NATO</title></head><body><main>{cards}</main></body></html>"


@pytest.mark.parametrize("encoding", ["shift_jis", "cp932", "euc_jp", "utf-8"])
@pytest.mark.parametrize("declared", ["header", "meta", "nowhere"])
def test_legacy_encodings(site, db, encoding, declared):
    """Shift_JIS-labelled pages use Windows-31J characters in the wild: read them too."""
    extra = CP932_ONLY if encoding in ("cp932", "utf-8") else ""
    label = {"shift_jis": "Shift_JIS", "cp932": "Shift_JIS", "euc_jp": "EUC-JP"}.get(
        encoding, "UTF-8"
    )
    body = listing(label if declared == "meta" else None, extra).encode(encoding)
    content_type = f"text/html; charset={label}" if declared == "header" else "text/html"
    site.serve_raw("/articles/tag/nato/", body, headers={"Content-Type": content_type})
    crawl = run_crawl(site.topic_url(), db, "-s", "TOPICWATCH_ENRICH=0")
    assert crawl.returncode == 0, crawl.stderr
    stored = rows(db, "select headline, summary from items order by id")
    assert stored == [(a.headline, a.summary + extra) for a in SEED]
