"""``topicwatch serve``: Datasette on a local port, read-only, described and searchable.

Started as a real child process on a free 127.0.0.1 port; skipped without the ``web``
extra. Readiness is read from the server's own log line, not waited for with sleeps.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import urlopen

import pytest
from click.testing import CliRunner
from conftest import child_env
from fault_matrix import row
from query_archive import story_copy

from topicwatch.archive.sql_functions import MAX_INPUT_CHARS, register_functions
from topicwatch.cli import cli
from topicwatch.cli.datasette import HEAP_LIMIT_BYTES

pytest.importorskip("datasette")
PIDS: dict[str, int] = {}  # the server process of each base URL


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    db = story_copy(tmp_path_factory.mktemp("serve"))[1]
    port = free_port()
    command = [sys.executable, "-m", "topicwatch", "serve", "--db", str(db), "--port", str(port)]
    process = subprocess.Popen(command, env=child_env(), stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        log = []
        for line in process.stderr:  # printed once the port is bound and listening
            log.append(line)
            if "read-only at http://" in line:
                break
        else:
            pytest.fail("datasette did not start:\n" + "".join(log))
        PIDS[f"http://127.0.0.1:{port}"] = process.pid
        yield f"http://127.0.0.1:{port}", db
    finally:
        process.terminate()
        process.communicate(timeout=10)


def fetch(url: str) -> str:
    with urlopen(url, timeout=10) as response:
        assert response.status == 200
        return response.read().decode("utf-8")


def rows(base: str, path: str) -> list[dict]:
    return json.loads(fetch(f"{base}/archive/{path}"))


def test_index_and_table_pages_carry_descriptions(server):
    base, _ = server
    assert "topicwatch archive" in fetch(f"{base}/")
    page = fetch(f"{base}/archive/items")
    assert "One row per article URL" in page and "Canonical article URL." in page
    assert "search_fts" not in fetch(f"{base}/archive")  # hidden


def test_tables_and_views_as_json(server):
    base, _ = server
    assert len(rows(base, "items.json?_shape=array&_size=5")) == 5
    edits = rows(base, "edits.json?_shape=array")
    assert len(edits) == 2 and {"headline_before", "headline_after"} <= set(edits[0])


def test_search_box_and_canned_queries(server):
    base, _ = server
    # half-width lower case finds the full-width headline: the plugin folds the query
    (hit,) = rows(base, f"search.json?_shape=array&q={quote('nato国防相')}&topic=&versions=")
    assert hit["headline"].startswith("ＮＡＴＯ国防相")
    assert len(rows(base, "newest_items.json?_shape=array")) == 54
    assert len(rows(base, "recent_edits.json?_shape=array")) == 2
    assert len(rows(base, "retracted_items.json?_shape=array&topic=nato")) == 1
    assert len(rows(base, "failed_runs.json?_shape=array")) == 2
    asof = rows(base, f"asof.json?_shape=array&when={quote('2026-02-01T12:00+09:00')}")
    assert len(asof) == 20 and asof[0]["position"] == 1


def test_serving_never_writes_the_archive(server):
    base, db = server
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    fetch(f"{base}/archive/changes.json")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def query(base: str, sql: str) -> tuple[int, str]:
    """An SQL query through Datasette's JSON API: the HTTP status and the body."""
    try:
        with urlopen(f"{base}/archive.json?_shape=array&sql={quote(sql)}", timeout=60) as reply:
            return reply.status, reply.read().decode("utf-8")
    except HTTPError as error:
        return error.code, error.read().decode("utf-8")


def test_the_registered_function_reads_a_bounded_amount_of_its_argument(server):
    """It ran 5.9 s on a 300-million-character argument, inside one call where Datasette's
    time limit cannot stop it; now it reads at most MAX_INPUT_CHARS characters."""
    assert f"{MAX_INPUT_CHARS:,}" in row("serve-function-bound").does
    base, _ = server
    huge = "topicwatch_search_key(printf('%.*c', 3000000, 'Ａ'))"
    status, body = query(base, f"select length({huge}) as n, substr({huge}, 1, 2) as head")
    assert status == 200, body
    assert json.loads(body) == [{"n": MAX_INPUT_CHARS, "head": "aa"}]


def test_many_calls_are_stopped_by_the_time_limit(server):
    base, _ = server
    endless = (
        "with recursive r(n) as (select 1 union all select n + 1 from r)"
        " select count(topicwatch_search_key(printf('%.*c', 50000, 'Ｘ'))) from r"
    )
    started = time.monotonic()
    status, body = query(base, endless)
    assert status == 400 and "too long" in body, body
    assert time.monotonic() - started < 30  # the 3 s limit, on a loaded machine


def peak_memory(pid: int) -> int:
    """The process's peak resident memory in bytes (VmHWM), from /proc."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


@pytest.mark.parametrize(
    "sql",
    [
        ", ".join(f"length(printf('%.*c', 400000000, 'x')) as c{i}" for i in range(3)),
        "length(zeroblob(900000000)) as n",
        "length(replace(printf('%.*c', 20000000, 'x'), 'x', 'xxxxxxxxxx')) as n",
        ", ".join(f"length(printf('%.*c', 30000000, 'x')) as c{i}" for i in range(40)),
    ],
)
def test_a_query_cannot_build_values_beyond_the_limits(server, sql):
    """One SQLite step built a 400 MB value, three of them 1.2 GB in one row, 6 s past
    the 3 s time limit: values, SQL text and SQLite's heap are now bounded."""
    base, _ = server
    started = time.monotonic()
    status, body = query(base, f"select {sql}")
    assert time.monotonic() - started < 30
    if status == 200:
        assert all(v is None for v in json.loads(body)[0].values()), body[:200]
    else:
        assert status in (400, 500) and "Traceback" not in body
        if status == 400:
            assert row("serve-query-size").error in body, body[:300]
    assert peak_memory(PIDS[base]) < HEAP_LIMIT_BYTES + 384 * 1024 * 1024
    status, body = query(base, "select count(*) as n from items")  # and it still serves
    assert status == 200 and json.loads(body)[0]["n"] > 0


def test_a_port_in_use_is_one_line_and_exit_2(server):
    base, db = server
    port = base.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "topicwatch", "serve", "--db", str(db), "--port", port],
        env=child_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == f"Error: port {port} on 127.0.0.1 is in use (try --port)"


@pytest.mark.parametrize(
    ("query", "versions"),
    [
        ("ＮＡＴＯ", ""),
        ("北極 米", "all"),
        ("ai 防", ""),
        ("ルッテ 米国", "all"),
        ("北", ""),
        ("ン", ""),
        ("ア", "all"),
    ],
)
def test_search_page_gives_the_hits_of_topicwatch_search(server, query, versions):
    """FTS5's MATCH behind a search box gave 3 rows for "ルッテ 米国" (the CLI: 1) and
    none for ＮＡＴＯ; the canned search now calls the CLI's own function."""
    base, db = server
    flags = ["--all-versions"] if versions else []
    args = ["search", query, "--limit", "200", *flags, "--json", "--db", str(db)]
    found = CliRunner().invoke(cli, args)
    assert found.exit_code == 0, found.output
    expected = [(h["item_id"], h["version"]) for h in json.loads(found.stdout)]
    assert expected or query == "ルッテ 米国"
    page = rows(base, f"search.json?_shape=array&q={quote(query)}&topic=&versions={versions}")
    assert [(h["item_id"], h["version"]) for h in page] == expected
    assert [h["rank"] for h in page] == list(range(1, len(page) + 1))


def test_no_table_offers_a_search_box_that_disagrees_with_the_cli(server):
    base, _ = server
    assert "<form" in fetch(f"{base}/archive/search")  # the empty form: no hits, no error
    assert rows(base, "search.json?_shape=array&q=&topic=&versions=") == []
    assert rows(base, "search.json?_shape=array&q=nato&topic=nope&versions=") == []
    table = json.loads(fetch(f"{base}/archive/item_versions.json?_size=1"))
    assert not table.get("fts_table")
    assert 'name="_search"' not in fetch(f"{base}/archive/item_versions")


def test_landing_pages_show_queries_and_views_not_internal_tables(server):
    """The index listed listing_entries, fetches and snapshots first and the views last."""
    base, _ = server
    database = json.loads(fetch(f"{base}/archive.json"))
    visible = [t["name"] for t in database["tables"] if not t["hidden"]]
    assert visible == []  # every table hidden, still queryable
    assert {v["name"] for v in database["views"]} == {"edits", "latest_items", "retractions"}
    assert [q["name"] for q in database["queries"]][:2] == ["newest_items", "recent_edits"]
    page = fetch(f"{base}/archive")
    assert page.index('id="queries"') < page.index('id="views"')
    assert "listing_entries" not in page  # behind the "hidden tables" link
    home = fetch(f"{base}/")
    assert "listing_entries" not in home and "fetches" not in home
    assert "latest_items" in home
    assert len(rows(base, "listing_entries.json?_shape=array&_size=3")) == 3  # queryable


def test_pages_open_newest_first_with_names_for_foreign_keys(server):
    base, _ = server
    latest = rows(base, "latest_items.json?_shape=array&_size=max")
    seen = [r["first_seen_at"] for r in latest]
    assert seen == sorted(seen, reverse=True)
    runs = rows(base, "crawl_runs.json?_shape=array&_size=max")
    assert [r["id"] for r in runs] == sorted((r["id"] for r in runs), reverse=True)
    (first,) = rows(base, "item_versions.json?_shape=array&_size=1&_labels=on")
    item = first["item_id"]
    assert isinstance(item, dict) and item["label"]  # the headline, not a bare number
    page = fetch(f"{base}/archive/item_versions")
    assert "<details><summary>Columns</summary>" in page
    assert page.index("<details>") < page.index("<table")


def test_registering_again_inside_a_running_statement_is_harmless():
    """Search registers the folding function when a short word is too common for the index
    (more than MAX_EXPANSION terms, on a large archive); under Datasette that happens inside
    topicwatch_search(), and re-registering during a statement fails in SQLite."""
    conn = sqlite3.connect(":memory:")
    register_functions(conn)
    conn.create_function("again", 0, lambda: register_functions(conn) or 1)
    assert conn.execute("select again(), topicwatch_search_key('Ａ')").fetchone() == (1, "a")
