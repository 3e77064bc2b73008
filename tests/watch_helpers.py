"""Helpers for the watch tests: a config with [[watch]] tables, ``topicwatch watches``
as a child process (nothing leaves 127.0.0.1: no proxies), and a site producing each
kind of change between two crawls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import child_env, run_crawl
from daemon_helpers import WebhookReceiver, toml_value, write_config
from fixture_site import FixtureSite, load_seed_articles, make_articles

SEED = load_seed_articles()
EDITED, RETRACTED = SEED[2], SEED[4]
EDITED_HEADLINE = EDITED.headline.replace("参加へ", "正式参加へ")


def watch_config(
    path: Path, db: Path, site: FixtureSite, watches: list[dict[str, Any]], **top: Any
) -> Path:
    """A daemon config of the fixture site's nato topic (hourly) and ``watches``."""
    write_config(path, db, [{"name": "nato", "url": site.topic_url(), "every": "1h"}], **top)
    lines = []
    for watch in watches:
        lines += ["[[watch]]", *(f"{k} = {toml_value(v)}" for k, v in watch.items())]
    with path.open("a", encoding="utf-8") as config:
        config.write("\n".join(lines) + "\n")
    return path


def webhook_watch(folder: Path, db: Path, site: FixtureSite, url: str, **top: Any) -> Path:
    """A config whose one watch, ``all``, sends every kind to the webhook ``url``."""
    watch = {"name": "all", "notify": {"webhook": url}}
    return watch_config(folder / "tw.toml", db, site, [watch], **top)


def watches(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``topicwatch watches ARGS --config CONFIG`` in a child process."""
    command = [sys.executable, "-m", "topicwatch", "watches", *args, "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=120)


def register_then_change(site: FixtureSite, db: Path, config: Path) -> str:
    """A first crawl (history), the watches registered, then :func:`produce_new_edited_vanished`."""
    assert run_crawl(site.topic_url(), db).returncode == 0
    assert watches(config, "send").returncode == 0
    return produce_new_edited_vanished(site)


def received_kinds(receiver: WebhookReceiver) -> list[str]:
    """The kind of the change each webhook payload received carried, in order."""
    return [body["changes"][0]["kind"] for _, body in receiver.received]


def produce_new_edited_vanished(site: FixtureSite) -> str:
    """One new post on top, one headline edited, one post retracted; the new post's URL."""
    new = make_articles(1, start=900)[0]
    site.add_articles([new])
    site.edit_article(EDITED.slug, headline=EDITED_HEADLINE)
    site.remove_article(RETRACTED.slug)
    return site.article_url(new.slug)


def produce_reappeared(site: FixtureSite) -> None:
    """The retracted post back where it stood (the other changes kept)."""
    listing = list(site.topics["nato"])
    listing.insert(1 + 4, RETRACTED)  # the new post on top moved everything one down
    site.set_listing("nato", listing)
