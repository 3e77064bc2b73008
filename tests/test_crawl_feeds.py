"""``scrapy crawl topic -o FILE``: one record per listed item in every feed format Scrapy
writes, while the same crawl still fills the archive."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from conftest import child_env, rows, scalar
from fixture_site import load_seed_articles

SEED = load_seed_articles()
FIELDS = ["url", "headline", "summary", "published_at", "position", "page", "topic"]


def scrapy_crawl(url: str, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    project = Path(__file__).parents[1]
    env = {**child_env(), "TOPICWATCH_DB": str(db)}
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "topic", "-a", f"url={url}",
         "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=WARNING", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_feed_format_gets_one_record_per_listed_item(site, db, tmp_path):
    out = {ext: tmp_path / f"items.{ext}" for ext in ("jsonl", "json", "csv", "xml")}
    options = [arg for path in out.values() for arg in ("-O", str(path))]
    done = scrapy_crawl(site.topic_url(), db, *options)
    assert done.returncode == 0, done.stderr
    assert "Error" not in done.stderr, done.stderr
    jsonl = [json.loads(line) for line in out["jsonl"].read_text("utf-8").splitlines()]
    assert [list(record) for record in jsonl] == [FIELDS] * 20
    first = jsonl[0]
    assert first["url"] == site.article_url(SEED[0].slug)
    assert (first["headline"], first["summary"]) == (SEED[0].headline, SEED[0].summary)
    assert (first["position"], first["page"], first["topic"]) == (1, 1, "nato")
    assert json.loads(out["json"].read_text("utf-8")) == jsonl
    with out["csv"].open(encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["url"] for row in table] == [r["url"] for r in jsonl]
    assert list(table[0]) == FIELDS and table[0]["headline"] == SEED[0].headline
    xml_items = ElementTree.parse(out["xml"]).getroot().findall("item")
    assert [item.findtext("url") for item in xml_items] == [r["url"] for r in jsonl]
    # The archive is filled by the same crawl, as without feeds.
    assert scalar(db, "select count(*) from items") == 20
    assert rows(db, "select status, items_new from crawl_runs") == [("ok", 20)]


def test_a_feed_that_names_its_own_item_classes_is_left_alone(site, db, tmp_path):
    feeds = {str(tmp_path / "failures.jsonl"): {
        "format": "jsonlines", "item_classes": ["topicwatch.crawler.items.PagingEnd"]}}  # fmt: skip
    done = scrapy_crawl(site.topic_url(), db, "-s", f"FEEDS={json.dumps(feeds)}")
    assert done.returncode == 0, done.stderr
    records = (tmp_path / "failures.jsonl").read_text("utf-8").splitlines()
    assert len(records) == 1 and "reason" in json.loads(records[0])
