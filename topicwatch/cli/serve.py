"""``topicwatch serve``: the archive in Datasette, read-only.

Checks the archive and binds the port before Datasette starts, so that any problem (a
missing archive, a port in use) is one line on stderr and exit status 2, not uvicorn's
log and exit 3.
"""

from __future__ import annotations

import errno
import socket
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
    items, recent edits (before/after), retractions, failed runs, as-of, search. Live
    Atom feeds: /-/topics/NAME.atom per topic, /-/watches/NAME.atom per watch.

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
    colors = click.get_current_context().color  # False under NO_COLOR: a plain log
    serve(Path(db), listening_socket(host, port), use_colors=colors)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, handed to the server (no window for another
    process to take the port between this check and the server's start)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise Problem(f"cannot listen on {host}:{port}: {error}") from None
    listening = socket.socket(family, kind, proto)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
    except OSError as error:
        listening.close()
        if error.errno == errno.EADDRINUSE:
            raise Problem(f"port {port} on {host} is in use (try --port)") from None
        raise Problem(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return listening
