"""Watches end to end with real parts: crawls of the local fixture site into a real
archive, ``topicwatch watches send`` as a child process, and a local HTTP receiver
getting Apprise's ``json://`` notifications and the webhook's payloads."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import child_env, rows, run_crawl
from daemon_helpers import WebhookReceiver
from watch_helpers import (
    EDITED,
    EDITED_HEADLINE,
    RETRACTED,
    produce_new_edited_vanished,
    produce_reappeared,
    received_kinds,
    register_then_change,
    watch_config,
    watches,
    webhook_watch,
)

KINDS = ["new", "edited", "vanished", "reappeared"]


def apprise_url(receiver: WebhookReceiver) -> str:
    return receiver.url.replace("http://", "json://").replace("/hook", "/apprise")


def by_path(receiver: WebhookReceiver, path: str) -> list[dict]:
    return [body for where, body in receiver.received if where == path]


def test_each_kind_is_delivered_once_through_apprise_json_and_the_webhook(site, tmp_path):
    db = tmp_path / "archive.db"
    with WebhookReceiver() as receiver:
        notify = [apprise_url(receiver), {"webhook": receiver.url}]
        config = watch_config(tmp_path / "tw.toml", db, site, [{"name": "all", "notify": notify}])
        assert run_crawl(site.topic_url(), db).returncode == 0  # history: 20 new items
        first = watches(config, "send")
        assert first.returncode == 0, first.stderr
        assert first.stdout == (
            "watch all registered: it covers changes from now on\nnothing pending\n"
        )
        new_url = produce_new_edited_vanished(site)
        assert run_crawl(site.topic_url(), db).returncode == 0
        produce_reappeared(site)
        assert run_crawl(site.topic_url(), db).returncode == 0

        waiting = json.loads(watches(config, "--json").stdout)[0]  # committed, not yet matched
        assert (waiting["pending"], waiting["last_delivery_at"]) == (4, None)
        sent = watches(config, "send")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.count("1 change(s) sent to apprise json://127.0.0.1:") == 4
        assert sent.stdout.count("1 change(s) sent to webhook http://127.0.0.1:") == 4
        hooks = by_path(receiver, "/hook")
        assert [p["changes"][0]["kind"] for p in hooks] == [
            "new",
            "edited",
            "vanished",
            "reappeared",
        ]
        links = {p["changes"][0]["kind"]: p["changes"][0]["link"] for p in hooks}
        assert links["new"] == new_url
        assert links["vanished"] == links["reappeared"] == site.article_url(RETRACTED.slug)
        edit = next(p for p in hooks if p["changes"][0]["kind"] == "edited")["changes"][0]
        assert edit["topic"] == "nato" and edit["headline"] == EDITED_HEADLINE
        assert edit["diff"]["headline"] == {
            "before": EDITED.headline,
            "after": EDITED_HEADLINE,
            "diff": EDITED.headline.replace("参加へ", "{+正式+}参加へ"),
        }
        assert all(p["event"] == "watch" and p["watch"] == "all" for p in hooks)
        assert len({p["idempotency_key"] for p in hooks}) == 4

        notes = by_path(receiver, "/apprise")
        assert len(notes) == 4 and all(n["type"] == "info" for n in notes)
        assert notes[1]["title"] == f"[nato] edited: {EDITED_HEADLINE}"
        assert (
            "headline: " + EDITED.headline.replace("参加へ", "{+正式+}参加へ")
            in notes[1]["message"]
        )  # plain text
        assert notes[0]["message"].splitlines()[-1] == new_url

        again = watches(config, "send")  # the outbox remembers: nothing is sent twice
        assert (again.returncode, again.stdout) == (0, "nothing pending\n")
        assert len(receiver.received) == 8
    states = rows(db, "select state, count(*) from watch_outbox group by state")
    assert states == [("sent", 8)]


def test_the_list_shows_last_delivery_pending_and_last_error(site, tmp_path):
    db = tmp_path / "archive.db"
    with WebhookReceiver() as receiver:
        dead = f"http://127.0.0.1:{receiver.server.server_address[1]}/hook"
    config = watch_config(
        tmp_path / "tw.toml", db, site,
        [{"name": "ops", "kinds": ["new"], "notify": {"webhook": dead}}],
    )  # fmt: skip
    assert run_crawl(site.topic_url(), db).returncode == 0
    assert watches(config, "send").returncode == 0
    produce_new_edited_vanished(site)
    assert run_crawl(site.topic_url(), db).returncode == 0
    failed = watches(config, "send")  # the receiver is gone: refused, kept for a retry
    assert failed.returncode == 1
    assert "watch ops: not sent to webhook http://127.0.0.1:" in failed.stderr
    listed = json.loads(watches(config, "--json").stdout)
    assert listed[0]["name"] == "ops" and listed[0]["kinds"] == ["new"]
    assert (listed[0]["pending"], listed[0]["failed"], listed[0]["last_delivery_at"]) == (
        1,
        0,
        None,
    )
    assert "connection refused" in listed[0]["last_error"].lower()
    line = watches(config).stdout
    assert line.startswith("ops: new in all, digest 0 -> webhook http://127.0.0.1:")
    assert "last delivery never, 1 pending, 0 failed, last error:" in line
    retry = rows(db, "select attempts, next_attempt_at > queued_at from watch_outbox")
    assert retry == [(1, 1)]  # backoff: not before its next attempt
    later = watches(config, "send").stdout
    assert later == "nothing due; 1 change(s) wait for a retry or their digest's end\n"


def test_watches_test_sends_a_sample_through_the_real_destinations(site, tmp_path):
    with WebhookReceiver() as receiver:
        notify = [apprise_url(receiver), {"webhook": receiver.url}]
        config = watch_config(tmp_path / "tw.toml", tmp_path / "a.db", site,
                              [{"name": "ops", "notify": notify}])  # fmt: skip
        done = watches(config, "test", "ops")
        assert done.returncode == 0, done.stderr
        assert done.stdout.count(": sent\n") == 2
        (_, note), (_, hook) = receiver.received
    assert note["title"] == "[sample] edited: topicwatch test: new headline"
    assert hook["changes"][0]["diff"]["headline"]["before"] == "topicwatch test: old headline"
    assert not (tmp_path / "a.db").exists()  # a test touches no archive


def test_a_failed_run_never_notifies(site, tmp_path):
    db = tmp_path / "archive.db"
    with WebhookReceiver() as receiver:
        config = webhook_watch(tmp_path, db, site, receiver.url)
        register_then_change(site, db, config)
        site.fail("/articles/tag/nato/", 200, body=b"<html><body>maintenance</body></html>")
        assert run_crawl(site.topic_url(), db).returncode == 1
        assert watches(config, "send").stdout == "nothing pending\n"
        assert receiver.received == []


def test_a_refused_notification_says_why_in_one_line_without_secrets(site, tmp_path):
    with WebhookReceiver() as receiver:
        port = receiver.server.server_address[1]
    dead = f"json://user:s3cret@127.0.0.1:{port}/t0ken"
    config = watch_config(tmp_path / "tw.toml", tmp_path / "a.db", site,
                          [{"name": "ops", "notify": dead}])  # fmt: skip
    done = watches(config, "test", "ops")
    assert done.returncode == 1
    assert done.stderr == (
        f"apprise json://127.0.0.1:{port}/…: not sent: not notified: A Connection error"
        " occurred sending JSON notification to 127.0.0.1.\n"
    )


def test_two_senders_at_once_send_each_change_once(site, tmp_path):
    db = tmp_path / "archive.db"
    with WebhookReceiver() as receiver:
        config = webhook_watch(tmp_path, db, site, receiver.url)
        register_then_change(site, db, config)
        assert run_crawl(site.topic_url(), db).returncode == 0
        command = [sys.executable, "-m", "topicwatch", "watches", "send", "--config", str(config)]
        senders = [subprocess.Popen(command, env=child_env(), stdout=subprocess.PIPE, text=True)
                   for _ in range(2)]  # fmt: skip
        outputs = [sender.communicate(timeout=120)[0] for sender in senders]
        assert [sender.returncode for sender in senders] == [0, 0]
        assert sum(out.count("1 change(s) sent to webhook") for out in outputs) == 3
        assert sorted(received_kinds(receiver)) == ["edited", "new", "vanished"]
