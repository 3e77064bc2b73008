"""Work outside Scrapy that must end by a total deadline, and can be abandoned at shutdown.

A socket timeout bounds each read, not a request: a server that answers ``304`` and then
sends one header byte every few seconds holds ``urllib`` forever, and a DNS lookup cannot
be interrupted at all. The daemon's own I/O (webhooks, alert commands) therefore runs
through :func:`bounded`: the work runs on a worker thread and the caller stops waiting at
the deadline, or at once when :meth:`Inflight.close` is called (the daemon is stopping).
The work registers what it holds with :meth:`Task.hold` (a socket to shut down, a process
to kill), which is released when it is abandoned, so the worker ends too instead of
dripping on in the background. Standard library only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Abandoned(Exception):
    """The work passed its deadline (or was cancelled); the message says which."""


class Cancelled(Abandoned):
    """The work was cancelled because the process is stopping: not the target's fault."""


class Task:
    """One piece of bounded work: its outcome, and what to release if it is abandoned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._releases: list[Callable[[], object]] = []
        self._outcome: tuple[bool, Any] | None = None
        self.settled = threading.Event()

    def hold(self, release: Callable[[], object]) -> None:
        """Call ``release`` should the work be abandoned; at once (and raise) if it already is."""
        with self._lock:
            if self._outcome is None:
                self._releases.append(release)
                return
            error = self._outcome[1]
        _release(release)
        raise error if isinstance(error, Abandoned) else Abandoned("abandoned")

    def abandon(self, error: Abandoned) -> None:
        """Settle the task with ``error`` (unless it already finished) and release its holds."""
        with self._lock:
            if self._outcome is not None:
                return
            self._outcome = (False, error)
            releases, self._releases = self._releases, []
        self.settled.set()
        for release in releases:
            _release(release)

    def finish(self, ok: bool, value: Any) -> None:
        """The worker's own outcome; ignored when the task was abandoned first."""
        with self._lock:
            if self._outcome is None:
                self._outcome = (ok, value)
                self._releases = []
        self.settled.set()

    def result(self) -> Any:
        """The work's value, or raise its exception (or :class:`Abandoned`)."""
        with self._lock:
            assert self._outcome is not None, "result() before the task settled"
            ok, value = self._outcome
        if ok:
            return value
        raise value


class Inflight:
    """The bounded work running now; :meth:`close` abandons all of it and refuses more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: set[Task] = set()
        self._closed: str | None = None

    def add(self, task: Task) -> None:
        with self._lock:
            if self._closed is None:
                self._tasks.add(task)
                return
        task.abandon(Cancelled(self._closed))

    def discard(self, task: Task) -> None:
        with self._lock:
            self._tasks.discard(task)

    def close(self, reason: str = "cancelled: the daemon is stopping") -> int:
        """Abandon every task (their callers return at once); return how many there were."""
        with self._lock:
            self._closed = reason
            tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.abandon(Cancelled(reason))
        return len(tasks)


def bounded(
    work: Callable[[Task], T], seconds: float, *, what: str, inflight: Inflight | None = None
) -> T:
    """Run ``work(task)`` on a worker thread; return its value within ``seconds``, or raise.

    Raises whatever the work raised, :class:`Abandoned` ("``what`` took longer than N s")
    at the deadline, or :class:`Cancelled` once ``inflight`` is closed. ``what`` appears in
    messages, so it must be safe to log (a masked URL, never a secret).
    """
    task = Task()
    if inflight is not None:
        inflight.add(task)
    try:
        if not task.settled.is_set():
            worker = threading.Thread(target=_run, args=(work, task), name=what, daemon=True)
            worker.start()
            if not task.settled.wait(max(seconds, 0.0)):
                task.abandon(Abandoned(f"{what} took longer than {seconds:g}s"))
    finally:
        if inflight is not None:
            inflight.discard(task)
    result: T = task.result()
    return result


def _run(work: Callable[[Task], Any], task: Task) -> None:
    try:
        value = work(task)
    except BaseException as error:  # handed to the caller, who raises it in its own thread
        task.finish(False, error)
    else:
        task.finish(True, value)


def _release(release: Callable[[], object]) -> None:
    with contextlib.suppress(OSError):  # a socket already closed, a process already gone
        release()
