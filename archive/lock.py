"""One writer per topic across processes: an ``flock`` on a file beside the archive.

The daemon and a manual ``topicwatch crawl`` may target the same topic; two writers would
race on its listing. The kernel frees an flock when its holder dies, even by SIGKILL, so
a crashed crawl never leaves the topic locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class TopicBusy(Exception):
    """Another process is crawling this topic."""


def lock_path(archive_path: str | os.PathLike[str], topic_url: str) -> Path:
    """The lock file of a topic: ``<archive>.locks/<sha1 of the topic URL>.lock``."""
    digest = hashlib.sha1(topic_url.encode("utf-8")).hexdigest()[:16]
    return Path(f"{os.fspath(archive_path)}.locks") / f"{digest}.lock"


@contextmanager
def topic_lock(
    archive_path: str | os.PathLike[str],
    topic_url: str,
    *,
    wait: float = 0.0,
    poll: float = 0.2,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Hold the topic's lock, waiting at most ``wait`` seconds, else raise TopicBusy."""
    path = lock_path(archive_path, topic_url)
    path.parent.mkdir(exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = monotonic() + wait
        while not _try_lock(handle):
            if monotonic() >= deadline:
                holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "?"
                raise TopicBusy(f"topic {topic_url} is being crawled by pid {holder}")
            time.sleep(poll)  # polling an flock: there is no blocking call with a timeout
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock


def _try_lock(handle: int) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def is_locked(archive_path: str | os.PathLike[str], topic_url: str) -> bool:
    """Whether some process holds the topic's lock right now."""
    path = lock_path(archive_path, topic_url)
    if not path.exists():
        return False
    handle = os.open(path, os.O_RDONLY)
    try:
        return not _try_lock(handle)
    finally:
        os.close(handle)
