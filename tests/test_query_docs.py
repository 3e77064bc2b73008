"""The analysts' documentation keeps up with the schema: every table, view and column of
a fresh archive is described once (archive/descriptions.py), and Datasette's metadata and
docs/schema.md are generated from that."""

from __future__ import annotations

from pathlib import Path

import pytest

from topicwatch.archive import open_archive
from topicwatch.archive.descriptions import HIDDEN, TABLES, VIEWS, documented, render_markdown
from topicwatch.cli.datasette import QUERIES, metadata

DOCS = Path(__file__).parents[1] / "docs"


@pytest.fixture(scope="module")
def columns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    db = open_archive(tmp_path_factory.mktemp("docs") / "fresh.db")
    names = [n for n in db.table_names() + db.view_names() if not n.startswith(HIDDEN)]
    found = {name: [row[1] for row in db.execute(f"PRAGMA table_info([{name}])")] for name in names}
    db.close()
    return found


def test_every_table_and_column_is_described(columns):
    for name, cols in columns.items():
        assert name in TABLES, f"{name} has no description"
        assert sorted(TABLES[name][1]) == sorted(cols), name


def test_schema_doc_is_generated_from_the_descriptions():
    assert documented() == render_markdown(), (
        "docs/schema.md is stale: python -m topicwatch.archive.descriptions"
    )
    for view in ("latest_items", "edits", "retractions"):
        assert f"### `{view}` (view)" in documented()


def test_analysts_guide_answers_the_five_questions_with_one_command_each():
    text = (DOCS / "analysts.md").read_text(encoding="utf-8")
    for command in (
        "topicwatch search グリーンランド --topic nato --since 7d --all-versions",
        "topicwatch changes --since 7d --kind edited",
        "topicwatch changes --since 30d --kind vanished",
        "topicwatch asof 2026-02-01T12:00+09:00 --topic nato",
        "topicwatch gaps --topic nato",
    ):
        assert f"\n{command}\n" in text


def test_datasette_metadata_shape():
    data = metadata("archive")
    tables = data["databases"]["archive"]["tables"]
    # no search box: FTS5's MATCH would disagree with topicwatch search (the canned one agrees)
    assert not any("fts_table" in table for table in tables.values())
    assert all(tables[name]["hidden"] for name in HIDDEN)
    assert {name for name, table in tables.items() if not table["hidden"]} == set(VIEWS)
    assert tables["items"]["label_column"] == "headline"
    assert set(data["databases"]["archive"]["queries"]) == set(QUERIES)
    assert not set(QUERIES) & set(TABLES)  # a query named like a table would shadow it
