"""``topicwatch serve``: the archive in Datasette, read-only, described and searchable.

Datasette opens a file it may not treat as immutable with ``mode=ro`` — right for an
archive the daemon keeps writing (``immutable=1`` would let SQLite skip locking and read
torn pages). The metadata below is the in-browser twin of docs/schema.md (both generated
from :mod:`archive.descriptions`): table and column descriptions, views and canned queries
for the analysts' questions first, newest first. A small plugin registers
``topicwatch_search_key()`` (bounded in its work, see :mod:`archive.sql_functions`) and
``topicwatch_search()``, :func:`archive.search.search` itself, behind the canned search:
no table has a search box, as FTS5's ``MATCH`` on the trigram index would silently give
other rows than ``topicwatch search`` for 1-2 character words and none for ＮＡＴＯ.

Datasette's time limit is checked between SQLite's steps, and one step can build a value
of SQLite's default maximum, a gigabyte (``printf('%.*c', 400000000, 'x')`` three times
over: 1.2 GB and 6 s past a 3 s limit). Every connection is therefore limited in what a
query can build (:func:`bound_connection`): values, SQL text, and all of SQLite's memory.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
from html import escape
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

import sqlite_utils

from topicwatch.archive.descriptions import HIDDEN, TABLES, VIEWS
from topicwatch.archive.live_feeds import topic_feed, watch_feed
from topicwatch.archive.lookup import NotFound, topic_id_or_none
from topicwatch.archive.search import EmptyQuery, SearchRequest, search
from topicwatch.archive.sql_functions import register_functions

# A stored snapshot is at most DOWNLOAD_MAXSIZE (10 MiB) before gzip; a value beyond this
# can only be one a query builds.
MAX_VALUE_BYTES = 32 * 1024 * 1024
MAX_SQL_BYTES = 1024 * 1024
# All that SQLite may allocate in the serving process (every connection, caches included).
HEAP_LIMIT_BYTES = 256 * 1024 * 1024
# Hits the search page shows (`topicwatch search --limit 200` gives the same).
SEARCH_LIMIT = 200

# Names differ from the views': Datasette would shadow a table with a query of its name.
QUERIES: dict[str, dict[str, str]] = {
    "newest_items": {
        "title": "Latest items",
        "description": "Newest first; leave topic empty for all topics.",
        "sql": "select first_seen_at, topic, headline, summary, published_at, url, item_id,"
        " version, status from latest_items where (:topic = '' or topic = :topic)"
        " order by first_seen_at desc, item_id desc limit 200",
    },
    "recent_edits": {
        "title": "Recent edits (before / after)",
        "description": "Rewritten headlines and summaries, newest first.",
        "sql": "select at, topic, fields, headline_before, headline_after, summary_before,"
        " summary_after, url, item_id, version from edits"
        " where (:topic = '' or topic = :topic) order by at desc, change_id desc limit 200",
    },
    "retracted_items": {
        "title": "Retractions",
        "description": "Items that vanished from a listing, newest first.",
        "sql": "select vanished_at, topic, headline, summary, url, item_id, published_at,"
        " reappeared_at from retractions where (:topic = '' or topic = :topic)"
        " order by vanished_at desc, change_id desc limit 200",
    },
    "failed_runs": {
        "title": "Failed runs",
        "description": "Failed and aborted crawls, newest first.",
        "sql": "select id, topic, trigger, started_at, finished_at, status, reason, error,"
        " pages from crawl_runs where status in ('failed', 'aborted')"
        " order by started_at desc limit 200",
    },
    "asof": {
        "title": "Listing as of a time",
        "description": "The listing in force at :when (ISO, e.g. 2026-02-01T09:00+09:00).",
        "sql": "with moment as (select strftime('%Y-%m-%dT%H:%M:%S+00:00', :when) as at),"
        " listing as (select l.id, l.topic_id, l.observed_at from listings as l, moment"
        " where l.id = (select p.id from listings as p where p.topic_id = l.topic_id"
        " and p.observed_at <= moment.at order by p.observed_at desc, p.id desc limit 1))"
        " select t.name as topic, listing.observed_at as listed_at, e.position, e.page,"
        " v.headline, v.summary, i.url, i.published_at, v.version"
        " from listing join topics as t on t.id = listing.topic_id"
        " join listing_entries as e on e.listing_id = listing.id"
        " join items as i on i.id = e.item_id join moment"
        " left join item_versions as v on v.id = (select w.id from item_versions as w"
        " where w.item_id = e.item_id and w.observed_at <= moment.at"
        " order by w.version desc limit 1)"
        " where (:topic = '' or t.name = :topic) order by t.name, e.position",
    },
    "search": {
        "title": "Search",
        "description": "The hits of `topicwatch search` for :q, best first: every word, any"
        " length, in the headline or summary (ＮＡＴＯ = nato). Leave topic empty for all"
        " topics; versions = all searches earlier versions too.",
        "sql": "select hit.key + 1 as rank, i.url, v.headline, v.summary, i.published_at,"
        " i.first_seen_at, v.version, i.version as latest_version, v.observed_at, i.id as item_id"
        " from json_each(topicwatch_search(:q, :topic, :versions)) as hit"
        " join items as i on i.id = json_extract(hit.value, '$[0]')"
        " join item_versions as v"
        " on v.item_id = i.id and v.version = json_extract(hit.value, '$[1]')"
        " order by hit.key",
    },
}


# Newest first on every page an analyst opens (ids increase with time).
SORT_DESC = {
    "latest_items": "first_seen_at",
    "edits": "at",
    "retractions": "vanished_at",
    "items": "first_seen_at",
    "item_versions": "id",
    "changes": "id",
    "crawl_runs": "id",
    "listings": "id",
    "fetches": "id",
    "snapshots": "id",
}
# Foreign keys to these show the name or headline, not a bare number.
LABEL_COLUMNS = {"topics": "name", "items": "headline"}


def metadata(database: str) -> dict[str, Any]:
    """Datasette metadata for an archive served under the name ``database``.

    Every table is hidden (still queryable, and listed under "hidden tables"): the landing
    pages then show the canned queries and the views, not the busiest internal tables.
    Column descriptions fold away under the table's description, so the rows come first.
    """
    tables: dict[str, Any] = {
        name: {"description_html": _description_html(description, columns), "hidden": True}
        for name, (description, columns) in TABLES.items()
    }
    for name in VIEWS:
        tables[name]["hidden"] = False
    for name, column in SORT_DESC.items():
        tables[name]["sort_desc"] = column
    for name, column in LABEL_COLUMNS.items():
        tables[name]["label_column"] = column
    tables.update({name: {"hidden": True} for name in HIDDEN})
    return {
        "title": "topicwatch archive",
        "description": "Japanese news topic listings with every version, change and run."
        " Read-only. Column meanings and change rules: docs/schema.md.",
        "databases": {database: {"tables": tables, "queries": QUERIES}},
    }


def _description_html(description: str, columns: dict[str, str]) -> str:
    """The table's description, its columns' folded in a ``<details>`` below it."""
    rows = "".join(
        f"<dt>{escape(name)}</dt><dd>{escape(text)}</dd>" for name, text in columns.items()
    )
    return (
        f"<p>{escape(description)}</p><details><summary>Columns</summary><dl>{rows}</dl></details>"
    )


def serve(path: Path, listening: socket.socket, *, use_colors: bool | None = None) -> None:
    """Run Datasette on ``path`` on the bound socket ``listening`` until interrupted
    (imports the optional extra lazily); ``use_colors`` None: uvicorn's log is coloured
    on a terminal, False (NO_COLOR): never."""
    import uvicorn
    from datasette.app import Datasette
    from datasette.plugins import pm

    if not pm.has_plugin("topicwatch"):
        pm.register(_plugin(), name="topicwatch")
    app = Datasette([str(path)], metadata=metadata(path.stem), settings={"sql_time_limit_ms": 3000})
    host, port = listening.getsockname()[:2]
    server = uvicorn.Server(
        uvicorn.Config(app.app(), host=host, port=port, log_level="info", use_colors=use_colors)
    )
    # Listening already: a browser that connects now waits in the backlog, not refused.
    listening.listen(128)
    where = f"[{host}]" if ":" in host else host
    print(f"serving {path} read-only at http://{where}:{port}/ (Ctrl-C stops)", file=sys.stderr,
          flush=True)  # fmt: skip
    server.run(sockets=[listening])


def _plugin() -> ModuleType:
    """A plugin registering topicwatch's SQL functions on every Datasette connection.

    A module object, as Datasette lists plugins by ``__name__``.
    """
    from datasette import hookimpl

    def prepare_connection(conn: Any) -> None:
        bound_connection(conn)
        register_functions(conn)  # each bounded: Datasette's time limit stops between calls
        conn.create_function("topicwatch_search", 3, _search_function(conn))

    def register_routes() -> list[tuple[str, Any]]:
        return [
            (r"^/-/watches/(?P<name>[^/]+)\.atom$", _feed_view(watch_feed)),
            (r"^/-/topics/(?P<name>[^/]+)\.atom$", _feed_view(topic_feed)),
        ]

    plugin = ModuleType("topicwatch_datasette")
    plugin.prepare_connection = hookimpl(prepare_connection)  # type: ignore[attr-defined]
    plugin.register_routes = hookimpl(register_routes)  # type: ignore[attr-defined]
    return plugin


def _feed_view(build: Any) -> Any:
    """A Datasette view answering ``build(db, name)``'s Atom document, or 404: the live
    feeds at ``/-/watches/NAME.atom`` and ``/-/topics/NAME.atom`` (NAME URL-encoded)."""
    from datasette.utils.asgi import Response

    async def view(datasette: Any, request: Any) -> Any:
        name = unquote(request.url_vars["name"])  # routes match the path as sent

        def read(conn: sqlite3.Connection) -> str | None:
            return build(sqlite_utils.Database(conn), name)  # type: ignore[no-any-return]

        feed = await datasette.get_database().execute_fn(read)
        if feed is None:
            return Response.text(f"no feed named {name!r}\n", status=404)
        return Response(feed, content_type="application/atom+xml; charset=utf-8")

    return view


def _search_function(conn: sqlite3.Connection) -> Any:
    """``topicwatch_search(q, topic, versions)``: the hits of :func:`archive.search.search`
    as a JSON array of ``[item_id, version]``, best first, for ``json_each``.

    The same function as ``topicwatch search``, so Datasette finds what the CLI finds:
    FTS5's own ``MATCH`` cannot find 1-2 character words in a trigram index, nor fold the
    query. Its queries run on ``conn`` itself, under Datasette's time limit.
    """
    db = sqlite_utils.Database(conn)

    def topicwatch_search(query: object, topic: object, versions: object) -> str:
        try:
            topic_id = topic_id_or_none(db, str(topic)) if topic else None
            request = SearchRequest(str(query or ""), topic_id, limit=SEARCH_LIMIT,
                                    all_versions=versions == "all")  # fmt: skip
            hits = search(db, request).hits
        except (EmptyQuery, NotFound):
            return "[]"  # the empty form Datasette shows first, or an unknown topic
        return json.dumps([[hit.item_id, hit.version] for hit in hits])

    return topicwatch_search


def bound_connection(conn: sqlite3.Connection) -> None:
    """Limit what one query on ``conn`` can build: no value over ``MAX_VALUE_BYTES`` ("string
    or blob too big"), no SQL text over ``MAX_SQL_BYTES``, and SQLite's whole heap in this
    process under ``HEAP_LIMIT_BYTES`` (an allocation past it fails the query, not the
    machine: many values under the cap still add up)."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)
    conn.execute(f"PRAGMA hard_heap_limit = {HEAP_LIMIT_BYTES}")
