"""Several topics in one ``topicwatch crawl`` process: one run (row, lock, commit) each.

Real child processes against the local fixture site, as in test_crawl.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import TEST_SETTINGS, child_env, rows
from fixture_site import make_articles

from topicwatch.archive.lock import topic_lock
from topicwatch.cli import cli


def crawl(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "topicwatch", "crawl", "--db", str(db), *args]
    for name, value in TEST_SETTINGS.items():
        command += ["-s", f"{name}={value}"]
    return subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=180)


def runs(db: Path) -> dict[str, tuple[str, int, str | None]]:
    found = rows(db, "select topic, status, pages, reason from crawl_runs order by id")
    return {topic: (status, pages, reason) for topic, status, pages, reason in found}


def test_several_urls_are_one_crawl_with_a_committed_run_each(site, db):
    site.set_listing("ukraine", make_articles(5, start=100))
    done = crawl(db, "--url", site.topic_url("nato"), "--url", site.topic_url("ukraine"))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["nato", "ukraine"]
    assert all(" ok run " in line for line in lines), lines
    assert runs(db) == {"nato": ("ok", 1, None), "ukraine": ("ok", 1, None)}
    assert rows(db, "select count(distinct run_id) from item_versions") == [(2,)]
    # Two runs, two transactions: each run's items name their own run.
    per_run = rows(db, "select run_id, count(*) from item_versions group by run_id")
    assert sorted(count for _, count in per_run) == [5, len(site.topics["nato"])]


def test_a_busy_topic_is_reported_and_the_others_go_on(site, db):
    site.set_listing("ukraine", make_articles(5, start=100))
    crawl(db, "--url", site.topic_url("ukraine"))  # the archive exists
    with topic_lock(db, site.topic_url("nato")):
        done = crawl(db, "--url", site.topic_url("nato"), "--url", site.topic_url("ukraine"))
    assert done.returncode == 75, done.stderr[-3000:]
    busy, ok = done.stdout.splitlines()
    assert busy.startswith("nato: busy: topic ") and "being crawled by pid" in busy
    assert ok.startswith("ukraine: ok run 2: ")
    assert [status for status, *_ in runs(db).values()] == ["ok"]


def test_all_crawls_the_config_s_topics_each_with_its_own_limits(site, tmp_path):
    site.per_page = 10
    site.set_listing("ukraine", make_articles(30, start=100))
    site.set_listing("iran", make_articles(30, start=200))
    db = tmp_path / "configured.db"
    config = tmp_path / "tw.toml"
    config.write_text(
        f'db = "{db.name}"\n'
        f'[[topic]]\nurl = "{site.topic_url("ukraine")}"\nmax_pages = 3\n'
        f'[[topic]]\nurl = "{site.topic_url("iran")}"\nname = "persia"\nmax_pages = 1\n'
        f'[[topic]]\nurl = "{site.base_url}/articles/tag/gone/"\n',
        encoding="utf-8",
    )
    done = crawl(tmp_path / "unused.db", "--all", "--config", str(config))
    # --db was given: it wins over the config's archive.
    assert done.returncode == 1, done.stderr[-3000:]
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == [
        "ukraine",
        "persia",
        "gone",
    ]
    assert runs(tmp_path / "unused.db") == {
        "ukraine": ("ok", 3, None),
        "persia": ("ok", 1, None),
        "gone": ("failed", 0, "http"),
    }


def test_all_writes_the_config_s_archive_unless_db_is_given(site, tmp_path):
    config = tmp_path / "tw.toml"
    config.write_text(f'db = "mine.db"\n[[topic]]\nurl = "{site.topic_url()}"\n', "utf-8")
    command = [sys.executable, "-m", "topicwatch", "crawl", "--all", "--config", str(config)]
    for name, value in TEST_SETTINGS.items():
        command += ["-s", f"{name}={value}"]
    env = child_env()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert runs(tmp_path / "mine.db")["nato"][0] == "ok"


def test_json_prints_one_run_row_per_line(site, db):
    site.set_listing("ukraine", make_articles(5, start=100))
    done = crawl(db, "--json", "--url", site.topic_url("nato"), "--url", site.topic_url("ukraine"))
    assert done.returncode == 0, done.stderr[-3000:]
    found = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(run["topic"], run["status"], run["items_new"]) for run in found] == [
        ("nato", "ok", len(site.topics["nato"])),
        ("ukraine", "ok", 5),
    ]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_several_topics_refuse_options_meant_for_one(tmp_path):
    db = str(tmp_path / "a.db")
    two = ("--url", "http://127.0.0.1:9/a/", "--url", "http://127.0.0.1:9/b/", "--db", db)
    named = invoke("crawl", *two, "--topic", "a")
    assert named.exit_code == 2 and "--topic names one topic" in named.output
    bad = invoke("crawl", "--url", "http://127.0.0.1:9/a/", "--url", "ftp://x/", "--db", db)
    assert bad.exit_code == 2 and "not an http(s) URL" in bad.output
    assert not (tmp_path / "a.db").exists()


def test_all_refuses_url_and_a_broken_config(tmp_path):
    config = tmp_path / "tw.toml"
    config.write_text('[[topic]]\nurl = "http://127.0.0.1:9/a/"\nmax_pages = "x"\n', "utf-8")
    both = invoke("crawl", "--all", "--url", "http://127.0.0.1:9/a/", "--config", str(config))
    assert both.exit_code == 2 and "not with --url" in both.output
    broken = invoke("crawl", "--all", "--config", str(config))
    assert broken.exit_code == 2 and "max_pages" in broken.output
