"""Crawl child processes of the daemon: start, time out, and stop them as a group.

Each scheduled crawl is a ``topicwatch crawl`` child so that a crash, hang or leak in a
crawl cannot reach the daemon. Children run in their own session: a Ctrl-C in the
daemon's terminal (or a signal to its process group) reaches the daemon only, which then
decides whether to let them finish or stop them. Standard library only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass

KILL_GRACE = 5.0  # seconds from SIGTERM (Scrapy closes and records) to SIGKILL
# The longest single wait handed to communicate(): its poll() takes milliseconds as a C
# int, so a wait over ~24.8 days (a config's `timeout = "30d"`) raised OverflowError.
LONGEST_WAIT = 86400.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildExit:
    """How one crawl child ended; ``pid`` is None when it could not be started."""

    pid: int | None
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    duration: float

    @property
    def last_error_line(self) -> str:
        """The child's last stderr line: its one-line error message, if it printed one."""
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1].strip()[:300] if lines else ""


def communicate_within(process: subprocess.Popen[str], seconds: float) -> tuple[str, str]:
    """``process.communicate()`` within ``seconds``, however long (TimeoutExpired after)."""
    end = time.monotonic() + max(seconds, 0.0)
    while True:
        remaining = max(end - time.monotonic(), 0.0)
        try:
            return process.communicate(timeout=min(remaining, LONGEST_WAIT))
        except subprocess.TimeoutExpired:
            if remaining <= LONGEST_WAIT:
                raise


class Children:
    """The running crawl children; closed at shutdown so no new crawl can start."""

    def __init__(self) -> None:
        self._running: dict[int, subprocess.Popen[str]] = {}
        self._changed = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        with self._changed:
            return len(self._running)

    def run(
        self,
        command: Sequence[str],
        timeout: float,
        on_start: Callable[[int], object] | None = None,
        deadline: float | None = None,
    ) -> ChildExit | None:
        """Run one child to its end (SIGTERM then SIGKILL after ``timeout``).

        ``deadline`` (a ``time.monotonic()`` value) cuts the child short earlier, when part
        of its ``timeout`` was used before it started. ``on_start`` is called with the
        child's pid once it runs. Returns None when shutdown has begun and the child was
        never started.
        """
        started = time.monotonic()
        with self._changed:
            if self._closed:
                return None
            try:
                process = subprocess.Popen(
                    list(command),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
            except OSError as error:
                return ChildExit(None, None, "", f"cannot start crawl: {error}", False, 0.0)
            self._running[process.pid] = process
        if on_start is not None:
            on_start(process.pid)
        try:
            timed_out = False
            try:
                limit = timeout if deadline is None else deadline - time.monotonic()
                stdout, stderr = communicate_within(process, limit)
            except subprocess.TimeoutExpired:
                timed_out = True
                log.warning("crawl pid %d ran over its %gs timeout: SIGTERM", process.pid, timeout)
                stdout, stderr = stop(process)
        finally:
            with self._changed:
                del self._running[process.pid]
                self._changed.notify_all()
        duration = time.monotonic() - started
        return ChildExit(process.pid, process.returncode, stdout, stderr, timed_out, duration)

    def close(self) -> None:
        """Refuse to start any more children."""
        with self._changed:
            self._closed = True

    def wait_idle(self, timeout: float, hurry: threading.Event | None = None) -> bool:
        """Wait until no child runs (True), ``timeout`` passes or ``hurry`` is set (False)."""
        return wait_empty(self._changed, lambda: self._running, timeout, hurry)

    def signal_all(self, signum: signal.Signals) -> list[int]:
        """Send ``signum`` to every running child; return their pids."""
        with self._changed:
            processes = list(self._running.values())
        return signal_processes(processes, signum)


def wait_empty(
    changed: threading.Condition,
    members: Callable[[], Sized],
    timeout: float,
    hurry: threading.Event | None = None,
) -> bool:
    """Wait on ``changed`` until ``members()`` is empty (True), ``timeout`` passes or
    ``hurry`` is set (False): how the daemon waits for its crawl children or workers."""
    deadline = time.monotonic() + timeout
    with changed:
        while len(members()):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (hurry is not None and hurry.is_set()):
                return False
            changed.wait(min(remaining, 0.1))
    return True


def signal_processes(
    processes: Sequence[subprocess.Popen[str]], signum: signal.Signals
) -> list[int]:
    """Send ``signum`` to each process still running; return all their pids."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)
    return [process.pid for process in processes]


def stop(process: subprocess.Popen[str], grace: float = KILL_GRACE) -> tuple[str, str]:
    """SIGTERM (Scrapy closes the spider and records the run), SIGKILL after ``grace``.

    The SIGKILL goes to the child's whole process group (it leads its own session), and
    its output is read for at most another ``grace``: a grandchild that escaped the kill
    and still holds the pipes must not hold the daemon's job, and its slot, for ever.
    """
    process.terminate()
    try:
        return process.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.kill()
    try:
        return process.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        log.error("crawl pid %d: its output pipes are held open; no longer reading", process.pid)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
        return "", ""
