"""One archive, built once per test session by real crawls, for the analysts' commands.

Eight real ``topicwatch crawl`` child processes against the fixture site tell a story:
a first crawl, arrivals (one in full-width and half-width forms), two edits, a
retraction, two failed runs, the retracted item's return, two days of downtime, and a
burst of arrivals that overruns the page limit. Crawls take under a second, so after each one its
timestamps are moved onto a fixed timeline (``T0`` + hours) instead of sleeping: the
commands then see six-hourly runs and can be asked about exact moments.

Test modules copy the archive (``story_copy``) so none can disturb another.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import run_crawl
from fixture_site import Article, FixtureSite, make_articles

T0 = datetime(2026, 2, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=85)  # an hour after the last run
PER_PAGE = 30  # the whole listing fits page 1 until the burst

FULL_WIDTH = Article(
    "fullwidth-ai-summit",
    "ＮＡＴＯ国防相会合、ＡＩ防衛とｸﾞﾘｰﾝﾗﾝﾄﾞ情勢を協議",
    "ＮＡＴＯは２月１３日、ブリュッセルで国防相会合を開き、ＡＩを使った防空網と"
    "ｸﾞﾘｰﾝﾗﾝﾄﾞを巡る情勢を協議した。北極圏での監視強化や加盟国の負担分担も議題となり、"
    "米欧の足並みが改めて問われる形となった。関係国の反応が注目される。",
    "2026-02-14T05:00:00+09:00",
    ["NATO"],
)
EDITED_HEADLINE = "nato-arctic-sentry-2"
NEW_HEADLINE = "NATOが北極圏で新任務「北極セントリー」開始、抑止力の強化へ"
EDITED_SUMMARY = "japan-joins-nato-purl"
NEW_SUMMARY_TAIL = "日本政府は近く正式に発表する見通しだ。"
RETRACTED = "greek-air-officer-china-spy"


@dataclass
class Story:
    """The built archive, its site, and each run's row (after retiming) by label."""

    path: Path
    site: FixtureSite
    runs: dict[str, dict[str, Any]]

    def at(self, hours: float) -> datetime:
        return T0 + timedelta(hours=hours)


_STORY: Story | None = None


def story(directory: Path) -> Story:
    """The session's story archive, built on first use under ``directory``."""
    global _STORY
    if _STORY is None:
        _STORY = _build(directory)
    return _STORY


def story_copy(directory: Path, name: str = "archive.db") -> tuple[Story, Path]:
    """The story and a private copy of its archive (WAL checkpointed into the file)."""
    built = story(directory.parent / "story")
    target = directory / name
    shutil.copyfile(built.path, target)
    return built, target


def _build(directory: Path) -> Story:
    directory.mkdir(parents=True, exist_ok=True)
    site = FixtureSite().start()
    atexit.register(site.stop)
    # Every run before the burst reads the whole listing. (Runs that read only part of it
    # leave stale positions that the vanished rule then misreads; reported separately.)
    site.per_page = PER_PAGE
    db = directory / "story.db"
    runs: dict[str, dict[str, Any]] = {}

    def crawl(label: str, hours: float, *args: str, ok: bool = True) -> None:
        done = run_crawl(site.topic_url(), db, "--trigger", "schedule", *args)
        assert done.returncode == (0 if ok else 1), done.stdout + done.stderr
        runs[label] = retime(db, done.run, T0 + timedelta(hours=hours))

    crawl("first", 0)
    site.add_articles([FULL_WIDTH, *make_articles(3)])
    crawl("arrivals", 6)
    original = next(a for a in site.topics["nato"] if a.slug == EDITED_SUMMARY)
    site.edit_article(EDITED_HEADLINE, headline=NEW_HEADLINE)
    site.edit_article(EDITED_SUMMARY, summary=original.summary + NEW_SUMMARY_TAIL)
    crawl("edits", 12)
    retracted = next(a for a in site.topics["nato"] if a.slug == RETRACTED)
    site.remove_article(RETRACTED)
    crawl("retraction", 18)
    site.fail("/articles/tag/nato/", 500)
    crawl("failed-1", 24, ok=False)
    crawl("failed-2", 30, ok=False)
    site.clear_overrides()
    site.add_articles([retracted])
    crawl("reappearance", 36)
    site.add_articles(make_articles(PER_PAGE + 5, start=4, day="2026-02-15"))
    crawl("burst", 84, "--max-pages", "1")
    _checkpoint(db)
    return Story(db, site, runs)


_TIMES = {
    "items": ("first_seen_at", "last_seen_at"),
    "item_versions": ("observed_at",),
    "changes": ("at",),
    "topic_items": ("first_listed_at", "last_listed_at", "vanished_at"),
    "listing_pages": ("fetched_at",),
    "listings": ("observed_at",),
}


def retime(db: Path, run: dict[str, Any], finished: datetime) -> dict[str, Any]:
    """Move one run's timestamps: it started a minute before ``finished``.

    A run writes one timestamp (its finish) everywhere it writes, so every column holding
    that exact string belongs to this run.
    """
    started = (finished - timedelta(minutes=1)).isoformat(timespec="seconds")
    end = finished.isoformat(timespec="seconds")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE crawl_runs SET started_at = ?, finished_at = ? WHERE id = ?",
            (started, end, run["id"]),
        )
        conn.execute(
            "UPDATE topics SET created_at = ? WHERE created_at IN (?, ?)",
            (started, run["started_at"], run["finished_at"]),
        )
        for table, columns in _TIMES.items():
            for column in columns:
                conn.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {column} = ?",
                    (end, run["finished_at"]),
                )
        row = conn.execute("SELECT * FROM crawl_runs WHERE id = ?", (run["id"],))
        names = [d[0] for d in row.description]
        retimed = dict(zip(names, row.fetchone(), strict=True))
    conn.close()
    return retimed


def _checkpoint(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def invoke(db: Path, *args: str, now: datetime = NOW, color: bool = False) -> Any:
    """Run a ``topicwatch`` command in-process with the clock frozen at ``now``."""
    import time_machine
    from click.testing import CliRunner

    from topicwatch.cli import cli

    with time_machine.travel(now, tick=False):
        return CliRunner().invoke(cli, [*args, "--db", str(db)], color=color)


def invoke_json(db: Path, *args: str, now: datetime = NOW) -> Any:
    """A command's ``--json`` output, asserting it succeeded."""
    import json

    result = invoke(db, *args, "--json", now=now)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
