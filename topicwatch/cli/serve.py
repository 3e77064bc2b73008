"""``topicwatch serve``: the archive in Datasette, read-only.

Opens the archive read-only, reads the clock once to resolve WHEN, calls one archive
function and formats the result; any problem is one line on stderr and exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import click

from topicwatch.archive.db import is_pinned_read
from topicwatch.cli.options import (
    db_option,
    reading,
)
from topicwatch.cli.output import Problem


@click.command(name="serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
def serve_command(db: str, host: str, port: int) -> None:
    """Browse the archive in Datasette (read-only), with descriptions and canned queries.

    Needs the optional extra: pip install 'topicwatch[web]'. Canned queries: latest
    items, recent edits (before/after), retractions, failed runs, as-of, search.

    \b
    Examples:
        topicwatch serve
        topicwatch serve --db nato.db --port 8080
    """
    try:
        import datasette  # noqa: F401
    except ImportError:
        raise Problem("Datasette is not installed: pip install 'topicwatch[web]'") from None
    from topicwatch.cli.datasette import serve

    with reading(db) as archive:  # fail here, in one line, on a missing, old or empty archive
        if is_pinned_read(archive):
            raise Problem(
                f"cannot serve {db}: reading it needs its -shm file, which this user cannot"
                " create; a server reading for hours without it could not notice a writer"
                " (run serve as the archive's owner, or while the daemon keeps it open)"
            )
    serve(Path(db), host, port)
