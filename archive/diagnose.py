"""What an SQLite error means to the operator: a full disk, a file that is no database.

SQLite reports a full disk two ways: ``SQLITE_FULL`` when a write to the database or its
log comes up short, and a bare "disk I/O error" when it cannot size the WAL index
(``-shm``) it maps on opening an archive — the first thing to fail on a full disk, and a
message that reads like a damaged file. So a write-side error is told apart by what the
file system says (free space, free inodes, and this process's file-size limit), not by
its code alone. Out of inodes, the disk is as full as out of blocks: SQLite then cannot
create the ``-wal``, ``-shm`` or ``-journal`` beside the archive and says only "unable
to open database file".
"""

from __future__ import annotations

import contextlib
import os
import resource
import sqlite3
from pathlib import Path

from topicwatch.archive.errors import ArchiveError

# Below this much free space SQLite cannot be sure to extend a file or map its WAL index.
FULL_MARGIN = 1 << 20
_SHM_SIZE = 32 * 1024  # the WAL index SQLite maps first
# Files a crawl may create beside the archive: -wal, -shm, -journal, the lock directory
# and its lock files, with room to spare.
FULL_INODES = 16


def explain(path: Path, error: sqlite3.Error) -> ArchiveError:
    """One line for the operator about ``error``, met while opening or using ``path``."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN):
        full = disk_full(path)
        if full:
            return ArchiveError(full)
        if code == sqlite3.SQLITE_FULL:
            return ArchiveError(f"disk full: cannot write {path} ({error})")
        if code == sqlite3.SQLITE_IOERR:
            return ArchiveError(f"cannot read or write {path}: disk I/O error ({_name(error)})")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return ArchiveError(
            f"another writer held {path} for longer than the busy timeout ({error})"
        )
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return ArchiveError(f"{path} is not a topicwatch archive ({error})")
    if code == sqlite3.SQLITE_CANTOPEN:
        return ArchiveError(f"cannot open {path} ({error})")
    return ArchiveError(f"{path}: {error} ({_name(error)})")


def disk_full(path: Path) -> str | None:
    """Why writing beside ``path`` fails for lack of room, or None if there is room."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and limit < _largest(path) + FULL_MARGIN:
        return (
            "disk full for this process: no file may grow past its file-size limit"
            f" (ulimit -f) of {limit} bytes"
        )
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return None
    # Root may also write the blocks a file system reserves for it.
    free = (stat.f_bfree if os.geteuid() == 0 else stat.f_bavail) * stat.f_frsize
    if free < FULL_MARGIN:
        return f"disk full: {free} bytes free on the file system holding {path.parent}"
    # A file system that counts no inodes (btrfs reports 0) is never full by them.
    inodes = stat.f_ffree if os.geteuid() == 0 else stat.f_favail
    if stat.f_files and inodes < FULL_INODES:
        return (
            f"disk full: no room for new files ({inodes} inodes free) on the file system"
            f" holding {path.parent}"
        )
    return None


def _largest(path: Path) -> int:
    sizes = [_SHM_SIZE]
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            sizes.append(Path(f"{path}{suffix}").stat().st_size)
    return max(sizes)


def _name(error: sqlite3.Error) -> str:
    return str(getattr(error, "sqlite_errorname", "") or type(error).__name__)
