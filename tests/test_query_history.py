"""``topicwatch history`` and the character diff it shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from query_archive import (
    EDITED_HEADLINE,
    NEW_HEADLINE,
    RETRACTED,
    invoke,
    invoke_json,
    story_copy,
)

from topicwatch.archive.diff import char_diff, excerpt, render


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory):
    return story_copy(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="module")
def db(story) -> Path:
    return story[1]


def test_versions_with_diffs_by_url(story, db):
    url = story[0].site.article_url(EDITED_HEADLINE)
    history = invoke_json(db, "history", url)
    assert set(history) == {"item", "versions", "events", "sightings"}
    assert history["item"]["url"] == url and history["item"]["version"] == 2
    first, second = history["versions"]
    assert (first["version"], first["changed"], first["diff"]) == (
        1,
        [],
        {"headline": [], "summary": []},
    )
    assert second["headline"] == NEW_HEADLINE and second["changed"] == ["headline"]
    assert ["delete", "始動"] in second["diff"]["headline"]
    assert ["insert", "開始"] in second["diff"]["headline"]
    assert second["diff"]["summary"][0][0] == "equal" and len(second["diff"]["summary"]) == 1
    assert [e["kind"] for e in history["events"]] == ["new", "edited"]


def test_same_item_by_id_and_by_url_without_slash(story, db):
    url = story[0].site.article_url(EDITED_HEADLINE)
    by_url = invoke_json(db, "history", url.rstrip("/"))
    by_id = invoke_json(db, "history", str(by_url["item"]["id"]))
    assert by_url == by_id


def test_sightings_show_positions_over_time(story, db):
    history = invoke_json(db, "history", story[0].site.article_url(RETRACTED))
    assert [e["kind"] for e in history["events"]] == ["new", "vanished", "reappeared"]
    (sighting,) = history["sightings"]
    assert sighting["topic"] == "nato" and sighting["vanished_at"] is None
    assert sighting["last_position"] == 1
    positions = [(s["position"], s["first_at"]) for s in sighting["stretches"]]
    assert positions[0] == (5, "2026-02-01T00:00:00+00:00")
    assert positions[-1] == (1, "2026-02-02T12:00:00+00:00")


def test_text_view(story, db):
    output = invoke(db, "history", story[0].site.article_url(EDITED_HEADLINE)).stdout
    assert "v2  2026-02-01 12:00Z  run 3  edited: headline" in output
    assert "[-始動-]{+開始+}" in output
    assert "summary:  (unchanged)" in output
    assert "\nsightings\n    nato: listed 2026-02-01 00:00Z" in output


def test_unknown_item_is_one_line_exit_2(story, db):
    for key in ("http://127.0.0.1:1/articles/nope/", "99999"):
        result = invoke(db, "history", key)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1
        assert result.stderr.startswith("Error: no item with")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("抑止力を強化", "抑止力の強化へ", "抑止力[-を-]{+の+}強化{+へ+}"),
        ("北極圏", "北極圏", "北極圏"),
        ("", "新", "{+新+}"),
        ("旧", "", "[-旧-]"),
        # a one-character match between two changes is folded into them
        ("英国が兵器調達", "米国は兵器購入", "[-英国が-]{+米国は+}兵器[-調達-]{+購入+}"),
        ("abcxdef", "ABCxDEF", "[-abcxdef-]{+ABCxDEF+}"),
    ],
)
def test_char_diff(old, new, expected):
    ops = char_diff(old, new)
    assert render(ops) == expected
    assert "".join(t for tag, t in ops if tag != "insert") == old
    assert "".join(t for tag, t in ops if tag != "delete") == new


def test_excerpt_cuts_long_unchanged_runs():
    ops = char_diff("あ" * 30 + "古い" + "い" * 30, "あ" * 30 + "新しい" + "い" * 30)
    assert render(excerpt(ops, context=3)) == "…あああ[-古-]{+新し+}いいい…"
