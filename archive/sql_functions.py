"""The SQL functions topicwatch registers on a connection, each bounded in its work.

``topicwatch serve`` lets anyone who reaches it run SQL, and Datasette stops a query at
its time limit through SQLite's progress handler — which runs between steps of SQLite's
virtual machine, never inside a function call. A function whose work grows with its
argument then runs as long as the argument is long (a 300-million-character ``printf``
kept ``topicwatch_search_key`` busy for seconds past the limit). So every function here
looks at no more than a fixed amount of its input: one call costs at most a few tens of
milliseconds, and a query calling it many times is stopped between calls as usual.
"""

from __future__ import annotations

import sqlite3

from topicwatch.archive.fold import search_key

# Characters of input a function reads. Far beyond any headline or summary (a summary is
# a few hundred characters); folding this many full-width characters takes ~30 ms.
MAX_INPUT_CHARS = 100_000


def bounded_search_key(text: object) -> str | None:
    """:func:`archive.fold.search_key` of the first ``MAX_INPUT_CHARS`` characters."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text[: MAX_INPUT_CHARS * 4].decode("utf-8", errors="replace")
    return search_key(str(text)[:MAX_INPUT_CHARS])


def register_functions(conn: sqlite3.Connection) -> None:
    """Register topicwatch's SQL functions on ``conn`` (analysts' queries, Datasette).

    Once: re-registering while a statement runs fails ("unable to delete/modify
    user-function"), and search calls this from inside Datasette's ``topicwatch_search()``.
    """
    known = conn.execute(
        "SELECT 1 FROM pragma_function_list WHERE name = 'topicwatch_search_key'"
    ).fetchone()
    if known is None:
        conn.create_function("topicwatch_search_key", 1, bounded_search_key, deterministic=True)
