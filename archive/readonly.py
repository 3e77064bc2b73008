"""Reading an archive without writing anything, even where SQLite would have to.

A reader of a WAL database needs its WAL index, the ``-shm`` file beside it. While any
connection is open the file exists and ``mode=ro`` readers share it, which keeps their
reads consistent while a crawl writes. When the last connection closes (the daemon
stopped), SQLite deletes it, and the next ``mode=ro`` reader must create it: an analyst
who may read the archive but not write its directory then gets "attempt to write a
readonly database", and on a full disk the reader fails too.

``immutable=1`` reads the database file alone, without any index or lock — correct only
while nobody writes. A writer may appear at any moment, and its checkpoint rewrites
pages of the file under such a reader. So the fallback is a *pinned* read: used only
when ``mode=ro`` cannot work and the file holds every committed transaction (no ``-wal``,
or an empty one); the file's identity, size and times, and the ``-wal``'s, are taken
before reading, and :func:`confirm` checks them afterwards. A writer cannot change the
file without changing them, so a read that confirms saw one committed state, and one that
does not is reported rather than trusted. ``mode=ro`` remains the first choice: it
stays correct through any number of writers instead of failing when one appears.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from topicwatch.archive.errors import ArchiveError
from topicwatch.archive.identity import is_wal, read_header

FileState = tuple[tuple[int, ...] | None, ...]


class PinnedConnection(sqlite3.Connection):
    """An ``immutable=1`` connection, valid only while :attr:`pinned` still holds."""

    pinned: FileState = ()
    path: Path = Path()


def connect(path: Path, *, pinned: bool = False) -> sqlite3.Connection:
    """A read-only autocommit connection to ``path`` (``pinned``: immutable, see above)."""
    uri = path.resolve().as_uri()
    if not pinned:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
        try:
            _touch(conn)
        except BaseException:
            conn.close()
            raise
        return conn
    state = file_state(path)
    pinned_conn = sqlite3.connect(
        f"{uri}?immutable=1", uri=True, isolation_level=None, factory=PinnedConnection
    )
    pinned_conn.pinned, pinned_conn.path = state, path
    _touch(pinned_conn)
    return pinned_conn


def connect_reader(path: Path, *, pinned: bool = False) -> sqlite3.Connection:
    """The right read-only connection: ``mode=ro``, or pinned where that cannot work.

    ``pinned`` (identifying a file before any write): the file alone, whatever its log
    holds, so that looking at a file never leaves a ``-shm`` beside it.
    """
    if pinned:
        return connect(path, pinned=True)
    try:
        return connect(path)
    except sqlite3.OperationalError as error:
        # No WAL index could be made (no permission, no space; a failed attempt may have
        # left part of one): pin, if the file alone holds every committed transaction.
        if not is_complete(path):
            raise
        try:
            return connect(path, pinned=True)
        except sqlite3.Error:
            raise error from None


def unchanged(conn: sqlite3.Connection) -> bool:
    """Whether what ``conn`` read still stands: it is not pinned, or nobody wrote since."""
    return not isinstance(conn, PinnedConnection) or file_state(conn.path) == conn.pinned


def confirm(conn: sqlite3.Connection) -> None:
    """Raise ArchiveError if ``conn`` is pinned and a writer touched the file since."""
    if not unchanged(conn):
        assert isinstance(conn, PinnedConnection)
        raise ArchiveError(
            f"{conn.path} was written while being read without its -shm file (the daemon"
            " started meanwhile?); run the command again"
        )


def is_pinned(conn: sqlite3.Connection) -> bool:
    return isinstance(conn, PinnedConnection)


def file_state(path: Path) -> FileState:
    """What a writer cannot help changing: the file's identity, size and times, and the log's."""
    return tuple(_stat(Path(f"{path}{suffix}")) for suffix in ("", "-wal"))


def _stat(path: Path) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def is_complete(path: Path) -> bool:
    """Whether the file alone holds the whole archive: a WAL file whose log is empty or
    gone (every transaction checkpointed into the file)."""
    try:
        wal_mode = is_wal(read_header(path))
    except OSError:
        return False
    log = _stat(Path(f"{path}-wal"))
    return wal_mode and (log is None or log[2] == 0)


def _touch(conn: sqlite3.Connection) -> None:
    # Reading the schema makes SQLite read the header (and open the WAL): a file that is
    # not a database, or a WAL it cannot index, fails here rather than at the first query.
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
