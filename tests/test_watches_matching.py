"""What a watch matches and when it is sent: queries in search syntax (Japanese words of
any length), digests grouped into one message at their period's end, and the digest
arithmetic. Real crawls into a real archive; the clock is handed in, never slept on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import rows, run_crawl
from daemon_helpers import WebhookReceiver
from fixture_site import make_articles
from watch_helpers import watch_config, watches

from topicwatch.archive import open_archive
from topicwatch.archive.fold import search_key
from topicwatch.archive.search import SearchRequest, search
from topicwatch.archive.timestamps import parse_iso
from topicwatch.archive.watches import WatchRule, digest_due, queue_changes, register_watches
from topicwatch.cli.watches import _writing
from topicwatch.daemon.config import load_config
from topicwatch.daemon.watch_delivery import deliver_due

NOW = datetime(2026, 2, 14, 9, 30, tzinfo=UTC)
QUERIES = {"one": "英", "two": "北極", "three": "グリーンランド", "folded": "ＮＡＴＯ 北極"}


def test_a_query_matches_japanese_words_of_one_two_and_three_characters(site, db):
    rules = [WatchRule(name, query=q, destinations=("test",)) for name, q in QUERIES.items()]
    archive = open_archive(db)
    try:
        register_watches(archive, rules, NOW)  # before the first crawl: its items are news
        assert run_crawl(site.topic_url(), db).returncode == 0
        queue_changes(archive, rules, NOW)
        matched = {
            name: {url for (url,) in rows(db, "select i.url from watch_outbox as o join changes"
                   " as c on c.id = o.change_id join items as i on i.id = c.item_id"
                   " where o.watch = ?", (name,))}
            for name in QUERIES
        }  # fmt: skip
        found = {
            name: {hit.url for hit in search(archive, SearchRequest(q, limit=100)).hits}
            for name, q in QUERIES.items()
        }
    finally:
        archive.close()
    listed = site.topics["nato"]
    for name, query in QUERIES.items():
        words = search_key(query).split()
        expected = {
            site.article_url(a.slug)
            for a in listed
            if all(w in search_key(a.headline) or w in search_key(a.summary) for w in words)
        }
        assert expected, name  # each query finds something in the seed listing...
        assert len(expected) < len(listed), name  # ...and not everything
        assert matched[name] == expected == found[name], name  # as `topicwatch search` does


def test_a_digest_sends_its_period_s_changes_as_one_message(site, tmp_path):
    db = tmp_path / "archive.db"
    with WebhookReceiver() as receiver:
        notify = [receiver.url.replace("http://", "json://"), {"webhook": receiver.url}]
        config = watch_config(tmp_path / "tw.toml", db, site,
                              [{"name": "hourly", "notify": notify, "digest": "1h"}])  # fmt: skip
        assert run_crawl(site.topic_url(), db).returncode == 0
        assert watches(config, "send").returncode == 0  # registered
        site.add_articles(make_articles(3, start=800))
        assert run_crawl(site.topic_url(), db).returncode == 0
        held = watches(config, "send")
        (due,) = {due for (due,) in rows(db, "select due_at from watch_outbox")}
        assert parse_iso(due).minute == parse_iso(due).second == 0  # the hour's end
        if datetime.now(UTC) < parse_iso(due):  # (unless the hour ended meanwhile)
            assert held.stdout.startswith("nothing due; 3 change(s) wait for a retry or their")
            assert receiver.received == []
            loaded = load_config(config)
            sent = deliver_due(lambda: _writing(str(db)), loaded.watches, lambda: parse_iso(due))
            assert [(s.changes, s.error) for s in sent] == [(3, None), (3, None)]
        (_, note), (_, hook) = receiver.received
    assert note["title"] == hook["title"] == "topicwatch hourly: 3 changes"
    assert [c["kind"] for c in hook["changes"]] == ["new"] * 3
    assert note["message"].count("nato · new: ") == 3
    assert rows(db, "select state, count(*) from watch_outbox group by state") == [("sent", 6)]


@pytest.mark.parametrize(
    ("period", "due"),
    [
        (0, NOW),
        (3600, datetime(2026, 2, 14, 10, 0, tzinfo=UTC)),
        (86400, datetime(2026, 2, 15, tzinfo=UTC)),
        (1800, datetime(2026, 2, 14, 10, 0, tzinfo=UTC)),  # 9:30 is a boundary: the next one
    ],
)
def test_a_digest_is_due_at_the_end_of_its_period(period, due):
    assert digest_due(NOW, period) == due
    assert digest_due(NOW - timedelta(seconds=1), period) <= due
