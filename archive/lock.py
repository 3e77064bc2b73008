"""One writer per topic across processes: an ``flock`` on a file beside the archive.

The daemon and a manual ``topicwatch crawl`` may target the same topic; two writers would
race on its listing. The kernel frees an flock when its holder dies, even by SIGKILL, so
a crashed crawl never leaves the topic locked.

A lock file is opened for writing (its holder writes its pid into it), so it must be
ours: a symlink planted at ``<db>.locks/<hash>.lock`` or at ``daemon.lock`` made the
holder truncate and overwrite the file it pointed to. Lock files are opened with
``O_NOFOLLOW`` relative to the lock directory, itself opened with ``O_NOFOLLOW``, and that
directory must belong to this user and be writable by nobody else — so nobody else can
plant anything in it — or the lock is refused with one line.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from topicwatch.archive.errors import ArchiveError

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted in place of a lock file must not hang the opener.
_OPEN_LOCK = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_OPEN_PEEK = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class TopicBusy(Exception):
    """Another process is crawling this topic."""


class UnsafeLock(ArchiveError):
    """The lock directory or a lock file is not safely ours to write."""


def lock_dir(archive_path: str | os.PathLike[str]) -> Path:
    """The archive's lock directory, ``<archive>.locks``."""
    return Path(f"{os.fspath(archive_path)}.locks")


def lock_path(archive_path: str | os.PathLike[str], topic_url: str) -> Path:
    """The lock file of a topic: ``<archive>.locks/<sha1 of the topic URL>.lock``."""
    digest = hashlib.sha1(topic_url.encode("utf-8")).hexdigest()[:16]
    return lock_dir(archive_path) / f"{digest}.lock"


def open_lock_file(path: Path) -> int:
    """A read-write descriptor of the lock file ``path`` in a lock directory that is ours.

    Creates the directory (0755) and the file (0644) as needed; raises UnsafeLock for a
    symlink, a directory another user owns or others may write, or a file that is not a
    plain file of ours with one link.
    """
    directory = _own_directory(path.parent, create=True)
    try:
        try:
            handle = os.open(path.name, _OPEN_LOCK, 0o644, dir_fd=directory)
        except OSError as error:
            raise UnsafeLock(f"refusing lock file {path}: {_why(error, path)}") from None
    finally:
        os.close(directory)
    info = os.fstat(handle)
    problem = _not_a_plain_own_file(info)
    if problem:
        os.close(handle)
        raise UnsafeLock(f"refusing lock file {path}: {problem}; remove it")
    os.set_blocking(handle, True)
    return handle


def check_lock_dir(archive_path: str | os.PathLike[str]) -> None:
    """Raise UnsafeLock now, creating nothing, if the lock directory exists and is unsafe."""
    directory = lock_dir(archive_path)
    if os.path.lexists(directory):
        os.close(_own_directory(directory, create=False))


@contextmanager
def file_lock(
    path: Path,
    busy: Callable[[str], Exception],
    *,
    wait: float = 0.0,
    poll: float = 0.2,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Hold the ``flock`` of the lock file ``path``, waiting at most ``wait`` seconds; else
    raise ``busy(holder pid)``. The one lock of topicwatch: a topic's, and the daemon's.

    The kernel frees an flock when its holder dies, so a crash never leaves a stale lock;
    the holder's pid is written into the file for the message the next comer reads.
    """
    handle = open_lock_file(path)
    try:
        deadline = monotonic() + wait
        while not _try_lock(handle):
            if monotonic() >= deadline:
                raise busy(os.pread(handle, 32, 0).decode(errors="replace").strip() or "?")
            time.sleep(poll)  # polling an flock: there is no blocking call with a timeout
        write_holder(handle)
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock


def topic_lock(
    archive_path: str | os.PathLike[str],
    topic_url: str,
    *,
    wait: float = 0.0,
    poll: float = 0.2,
    monotonic: Callable[[], float] = time.monotonic,
) -> AbstractContextManager[None]:
    """Hold the topic's lock (one writer per topic), waiting at most ``wait`` seconds, else
    raise TopicBusy."""

    def busy(holder: str) -> Exception:
        return TopicBusy(f"topic {topic_url} is being crawled by pid {holder}")

    path = lock_path(archive_path, topic_url)
    return file_lock(path, busy, wait=wait, poll=poll, monotonic=monotonic)


HOLDER_WIDTH = 20  # bytes of the pid field, space-padded: a pid never needs more


def write_holder(handle: int) -> None:
    """Record this process as the lock's holder (a locked descriptor from open_lock_file).

    A fixed-width field overwrites the last holder's pid in place: truncating the file
    first cost a metadata write (~0.5 ms) on every run of a warm worker.
    """
    os.pwrite(handle, f"{os.getpid():<{HOLDER_WIDTH}}".encode(), 0)
    if os.fstat(handle).st_size > HOLDER_WIDTH:  # written by something else: cut it
        os.ftruncate(handle, HOLDER_WIDTH)


def _try_lock(handle: int) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def is_locked(archive_path: str | os.PathLike[str], topic_url: str) -> bool:
    """Whether some process holds the topic's lock right now (never follows a symlink)."""
    handle = _peek(lock_path(archive_path, topic_url))
    if handle is None:
        return False
    try:
        return not _try_lock(handle)
    finally:
        os.close(handle)


def lock_holder(archive_path: str | os.PathLike[str], topic_url: str) -> str | None:
    """The pid text the topic's lock holder wrote, or None (no such plain file)."""
    handle = _peek(lock_path(archive_path, topic_url))
    if handle is None:
        return None
    try:
        return os.pread(handle, 32, 0).decode(errors="replace").strip()
    finally:
        os.close(handle)


def _peek(path: Path) -> int | None:
    """A read-only descriptor of a plain lock file, or None (missing, symlink, other)."""
    try:
        handle = os.open(path, _OPEN_PEEK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        return None
    return handle


def _own_directory(directory: Path, *, create: bool) -> int:
    """An O_NOFOLLOW descriptor of ``directory``, checked to be this user's and private."""
    if create:
        try:
            os.mkdir(directory, 0o755)
        except FileExistsError:
            pass
        except OSError as error:
            raise UnsafeLock(
                f"cannot create lock directory {directory}: {_why(error, directory)}"
            ) from None
    try:
        handle = os.open(directory, _OPEN_DIR)
    except OSError as error:
        raise UnsafeLock(f"refusing lock directory {directory}: {_why(error, directory)}") from None
    info = os.fstat(handle)
    problem = None
    if info.st_uid != os.geteuid():
        problem = f"it belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = stat.S_IMODE(info.st_mode)
        problem = f"others may write it (mode {mode:o}); chmod go-w {directory}"
    if problem:
        os.close(handle)
        raise UnsafeLock(f"refusing lock directory {directory}: {problem}")
    return handle


def _not_a_plain_own_file(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_uid != os.geteuid():
        return f"it belongs to uid {info.st_uid}, not to this user"
    if info.st_nlink != 1:
        return f"it has {info.st_nlink} hard links"
    return None


def _why(error: OSError, path: Path) -> str:
    # O_NOFOLLOW answers ELOOP for a symlink, O_DIRECTORY ENOTDIR for one to a directory.
    if error.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
        return "it is a symbolic link"
    if error.errno == errno.ENOTDIR:
        return "it is not a directory"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full ({error.strerror})"  # out of blocks or of inodes
    return error.strerror or str(error)
