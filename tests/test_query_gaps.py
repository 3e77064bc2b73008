"""``topicwatch gaps``: failed streaks, downtime and page-limit holes, and their filling.

The fill test runs the very command ``gaps`` prints, as a real crawl, and checks that the
holes it reported are then covered.
"""

from __future__ import annotations

import shlex
from datetime import timedelta

import pytest
from conftest import run_crawl
from query_archive import NOW, invoke, invoke_json, retime, story_copy

GAP_KEYS = {"topic", "kind", "start", "end", "runs", "detail", "status", "pages", "url", "fill"}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory):
    return story_copy(tmp_path_factory.mktemp("gaps"))


def test_the_story_has_three_gaps(story):
    built, db = story
    gaps = invoke_json(db, "gaps")
    assert set(gaps[0]) == GAP_KEYS
    assert [(g["kind"], g["status"]) for g in gaps] == [
        ("failed", "covered"),
        ("downtime", "open"),
        ("page-limit", "open"),
    ]
    failed, downtime, page_limit = gaps
    ids = {label: run["id"] for label, run in built.runs.items()}
    assert failed["runs"] == [ids["failed-1"], ids["failed-2"]]
    assert failed["detail"] == "2 failed run(s) in a row"
    assert downtime["detail"] == "no run for 2d (usual interval 6h)"
    assert downtime["runs"] == [ids["reappearance"], ids["burst"]]
    assert page_limit["runs"] == [ids["burst"]]
    assert page_limit["fill"].startswith(f"topicwatch crawl --url {built.site.topic_url()} --pages")
    assert page_limit["fill"].endswith(f"--db {db}")


def test_downtime_still_going_is_open_without_an_end(story):
    gaps = invoke_json(story[1], "gaps", now=NOW + timedelta(days=3))
    assert (gaps[-1]["kind"], gaps[-1]["end"], gaps[-1]["status"]) == ("downtime", None, "open")
    assert gaps[-1]["detail"].startswith("no run for 3d")


def test_table_view_prints_the_fill_command(story):
    result = invoke(story[1], "gaps", "--topic", "nato")
    assert result.stdout.splitlines()[0].split()[:5] == ["topic", "kind", "status", "from", "to"]
    assert "topicwatch crawl --url" in result.stdout


def test_running_the_fill_command_covers_the_holes(story, tmp_path):
    built, shared = story
    db = tmp_path / "filled.db"
    db.write_bytes(shared.read_bytes())
    page_limit = invoke_json(db, "gaps")[-1]
    argv = shlex.split(page_limit["fill"])
    assert argv[:4] == ["topicwatch", "crawl", "--url", built.site.topic_url()]
    pages = argv[argv.index("--pages") + 1]
    done = run_crawl(built.site.topic_url(), db, "--pages", pages)
    assert done.returncode == 0 and done.run["items_new"] == 5, done.stdout
    retime(db, done.run, NOW)  # the fill ran an hour after the burst
    assert [g["status"] for g in invoke_json(db, "gaps")] == ["covered"] * 3
