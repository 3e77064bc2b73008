"""docs/analysts.md's answer to "sqlite-utils search fails on the archive": the SQL it
gives for plain tools, run with the real ``sqlite-utils`` command, finds what
``topicwatch search --all-versions`` finds."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import child_env
from query_archive import invoke_json, story_copy

DOC = Path(__file__).resolve().parents[1] / "docs" / "analysts.md"


def documented_command() -> list[str]:
    text = DOC.read_text(encoding="utf-8").split("<!-- sql:search_fts -->", 1)[1]
    block = re.search(r"```sh\n(.*?)\n```", text, re.S)
    assert block is not None
    return shlex.split(block.group(1).replace("\n", " "))


def test_documented_search_fts_query_finds_what_topicwatch_search_finds(tmp_path):
    db = story_copy(tmp_path)[1]
    command = documented_command()
    assert command[:3] == ["sqlite-utils", "query", "archive.db"]
    sqlite_utils = Path(sys.executable).with_name("sqlite-utils")
    done = subprocess.run(
        [str(sqlite_utils), "query", str(db), *command[3:]],
        capture_output=True, text=True, env=child_env(), timeout=60, check=True,
    )  # fmt: skip
    found = {(r["item_id"], r["version"]) for r in json.loads(done.stdout)}
    hits = invoke_json(db, "search", "北極圏", "--all-versions", "--limit", "1000")
    assert found and found == {(h["item_id"], h["version"]) for h in hits}


def test_sqlite_utils_search_is_refused_as_the_doc_says(tmp_path):
    db = story_copy(tmp_path)[1]
    sqlite_utils = Path(sys.executable).with_name("sqlite-utils")
    done = subprocess.run(
        [str(sqlite_utils), "search", str(db), "item_versions", "北極圏"],
        capture_output=True, text=True, env=child_env(), timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "not configured for full-text search" in done.stderr
    assert "not configured for full-text search" in " ".join(
        DOC.read_text(encoding="utf-8").split()
    )
