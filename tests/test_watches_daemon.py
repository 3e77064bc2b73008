"""The daemon delivers watches continuously, and restarts (crashes included) between a
commit and its delivery neither lose a change nor send one twice: the outbox lives in
the archive, shared with ``topicwatch watches send``."""

from __future__ import annotations

from conftest import run_crawl
from daemon_helpers import Daemon, WebhookReceiver, query, wait_until
from watch_helpers import (
    produce_new_edited_vanished,
    produce_reappeared,
    received_kinds,
    watches,
    webhook_watch,
)


def test_restarts_between_commit_and_delivery_lose_nothing_and_duplicate_nothing(site, tmp_path):
    db = tmp_path / "archive.db"
    with WebhookReceiver() as receiver:
        # The daemon crawls nothing here (the topic is hourly): no warm workers to start.
        config = webhook_watch(tmp_path, db, site, receiver.url, crawl_workers=0)
        assert run_crawl(site.topic_url(), db).returncode == 0
        with Daemon(config) as first:  # registers the watch: the 20 first items are history
            first.wait_for_output("watch all registered: it covers changes from now on")
            first.kill()  # a crash
        produce_new_edited_vanished(site)
        assert run_crawl(site.topic_url(), db).returncode == 0  # committed, no daemon running

        with Daemon(config) as second:  # delivers what was committed while it was down
            wait_until(lambda: len(receiver.received) == 3, 60, "3 deliveries")
            wait_until(lambda: query(db, "select count(*) from watch_outbox where state = 'sent'")
                       == [(3,)], 30, "the deliveries recorded")  # fmt: skip
            second.kill()  # a crash right after delivering

        with Daemon(config) as third:
            third.wait_for_output("daemon started")
            assert watches(config, "send").stdout == "nothing pending\n"  # shared outbox
            produce_reappeared(site)
            assert run_crawl(site.topic_url(), db).returncode == 0
            wait_until(lambda: "reappeared" in received_kinds(receiver), 60, "the reappeared item")
            assert third.stop() == 0
        # Rows are sent oldest first: a resent one would have come before the last.
        assert "watch all: 1 change(s) sent to webhook http://127.0.0.1:" in third.output
    assert received_kinds(receiver) == ["new", "edited", "vanished", "reappeared"]
    assert len({body["idempotency_key"] for _, body in receiver.received}) == 4
    assert query(db, "select state, count(*) from watch_outbox group by state") == [("sent", 4)]
