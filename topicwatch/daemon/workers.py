"""A pool of warm crawl workers: the daemon's crawls as orders instead of child processes.

A ``topicwatch crawl`` child costs ~1 s of CPU per check, nearly all of it Scrapy's start;
a warm worker (``python -m topicwatch.crawler.worker``, protocol in its docstring) keeps
the engine open and runs each order as its own run for ~12 ms. The pool keeps ``size``
of them and hands each order to the one with the fewest in flight. :meth:`Pool.run`
blocks the calling job thread until the order's result line arrives, as
``Children.run`` does, so the scheduler's model (one job thread per running topic) stays.

What the pool does not trust the worker with: a worker that ends or crashes fails only
its in-flight orders (their job threads get no line and put the run on record) and is
replaced; an order unanswered past its timeout plus :data:`ANSWER_MARGIN` gets the
worker killed and replaced, since the worker enforces run timeouts itself and one that
does not is stuck. A worker saying ``recycle`` is replaced at once and left to drain.

Standard library only (subprocess and one reader thread per worker), plus the archive's
record of the workers for ``topicwatch status``: the daemon never imports Scrapy.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from topicwatch.archive.daemon_workers import WorkerState
from topicwatch.archive.timestamps import iso
from topicwatch.daemon.crawl_processes import signal_processes, wait_empty

# Seconds past an order's timeout before an unanswered worker is killed: the worker
# records a timed-out run itself, which on a loaded machine can take a few seconds.
ANSWER_MARGIN = 15.0
KILL_GRACE = 5.0  # seconds from SIGTERM (runs recorded aborted) to SIGKILL
# A worker that exits with a failure before saying a word (a setting that fails only
# inside Scrapy, a broken install) would die again at once: after two in a row the next
# start waits 1 s, doubling up to this, instead of a restart loop that burns a core and
# floods the log. Workers ended by a signal (killed, or stopped at shutdown) do not count.
MAX_START_DELAY = 60.0
STDERR_PIECE = 8192  # characters of a worker's log line kept at most (last 20 kept)
LOG_DRAIN_SECONDS = 5.0  # a dead worker's log is read to its end within this, at most
# Refusals that mean "not this worker, not now": the order goes to another one.
_PASSING_REFUSALS = ("recycling", "no more input")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderResult:
    """How one order ended: the worker's result line, or None when the worker ended (or
    was killed) without answering; ``pid`` is None when no worker could take it.
    ``crashed``: its worker exited by itself with an error status (not by a signal, such
    as the shutdown's), so the run failed whatever else was going on."""

    pid: int | None
    line: dict[str, Any] | None
    error: str
    timed_out: bool
    duration: float
    crashed: bool = False


@dataclass
class _Pending:
    topic: str
    done: threading.Event = field(default_factory=threading.Event)
    line: dict[str, Any] | None = None
    error: str = ""
    crashed: bool = False  # its worker exited by itself with an error status


class _Worker:
    """One worker process, its orders in flight, and the thread reading its answers."""

    def __init__(self, process: subprocess.Popen[str], started_at: datetime) -> None:
        self.process = process
        self.pid = process.pid
        self.started_at = started_at
        self.pending: dict[int, _Pending] = {}
        self.runs_done = 0
        self.draining = False  # recycling, or its input closed: takes no more orders
        self.stderr: deque[str] = deque(maxlen=20)
        self.killed_for = ""  # why the pool killed it, for its orders' errors
        self.answered = False  # said a protocol line: it started, whatever happens next
        self.log_reader: threading.Thread | None = None  # drains stderr into self.stderr

    def topics(self) -> list[str]:
        return sorted(p.topic for p in self.pending.values())

    def last_error_line(self) -> str:
        lines = [line.strip() for line in self.stderr if line.strip()]
        return lines[-1][:300] if lines else ""


class Pool:
    """``size`` warm workers started from ``command``; closed at shutdown."""

    def __init__(self, command: Sequence[str], size: int, clock: Callable[[], datetime]) -> None:
        self.command = list(command)
        self.size = size
        self.clock = clock  # the daemon's clock, for the workers' start times
        self._workers: list[_Worker] = []
        self._changed = threading.Condition()
        self._closed = False
        self._ids = itertools.count(1)
        self._failed_starts = 0  # workers in a row that died before answering anything
        self._start_at = 0.0  # monotonic time before which no worker is started
        self._start_error = ""  # why the last of them died
        self._timer: threading.Timer | None = None

    # ---------------------------------------------------------------- workers

    def start(self) -> None:
        """Start the workers; a worker that cannot start is logged and tried again later."""
        with self._changed:
            self._fill()

    def _fill(self) -> None:
        """Start workers until ``size`` take orders (holding the lock); while workers keep
        dying at start, not before :attr:`_start_at` (a timer fills the pool then)."""
        wait = self._start_at - time.monotonic()
        if wait > 0:
            if self._timer is None and not self._closed:
                self._timer = threading.Timer(wait, self._refill)
                self._timer.daemon = True
                self._timer.start()
            return
        while not self._closed and len(self._taking()) < self.size:
            try:
                worker = self._spawn()
            except OSError as error:
                log.error("cannot start a crawl worker: %s", error)
                return
            self._workers.append(worker)
            log.info("crawl worker pid %d started (%s)", worker.pid, self.describe_locked())

    def _refill(self) -> None:
        with self._changed:
            self._timer = None
            self._fill()
            self._changed.notify_all()

    def _spawn(self) -> _Worker:
        process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            # Bytes that are not UTF-8 (a native library writing to fd 1 or 2) must not end
            # a reader thread: a worker whose stderr is no longer read blocks on its next
            # log line, every run on it hangs, and so does its replacement.
            errors="replace",
            start_new_session=True,  # a Ctrl-C reaches the daemon only, which decides
        )
        worker = _Worker(process, self.clock())
        for target, name in ((self._read, "answers"), (self._drain_stderr, "log")):
            thread = threading.Thread(
                target=target, args=(worker,), name=f"worker-{worker.pid}-{name}", daemon=True
            )
            thread.start()
            if name == "log":
                worker.log_reader = thread
        return worker

    def _taking(self) -> list[_Worker]:
        return [w for w in self._workers if not w.draining and w.process.poll() is None]

    def _read(self, worker: _Worker) -> None:
        """Match each answer to its order; at end of output fail what is left, replace."""
        assert worker.process.stdout is not None
        for text in worker.process.stdout:
            try:
                line = json.loads(text)
            except ValueError:
                log.warning("crawl worker pid %d: not a protocol line: %.200s", worker.pid, text)
                continue
            if isinstance(line, dict):
                self._take_line(worker, line)
        code = worker.process.wait()
        if worker.log_reader is not None:
            # Its last words (why it ended) may still be in the pipe: read them first, so
            # the orders' errors and the log say why, whichever reader got there first.
            worker.log_reader.join(LOG_DRAIN_SECONDS)
        self._ended(worker, code)

    def _take_line(self, worker: _Worker, line: dict[str, Any]) -> None:
        with self._changed:
            worker.answered = True
            self._failed_starts = 0
            if line.get("event") == "recycle":
                worker.draining = True
                why = f" ({line['why']})" if line.get("why") else ""
                log.info(
                    "crawl worker pid %d recycles after %s run(s)%s",
                    worker.pid, line.get("runs"), why,
                )  # fmt: skip
                self._fill()
                return
            pending = worker.pending.pop(line.get("order"), None)  # type: ignore[arg-type]
            if pending is None:
                log.warning("crawl worker pid %d: answer to no order: %.200s", worker.pid, line)
                return
            if line.get("run_id") is not None:
                worker.runs_done += 1
            pending.line = line
            pending.done.set()
            self._changed.notify_all()

    def _ended(self, worker: _Worker, code: int) -> None:
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        with self._changed:
            self._workers.remove(worker)
            for pending in worker.pending.values():
                pending.error = worker.killed_for or (
                    f"the crawl worker pid {worker.pid} ended ({how})"
                    + (f": {worker.last_error_line()}" if worker.last_error_line() else "")
                )
                pending.crashed = code > 0
                pending.done.set()
            lost = len(worker.pending)
            worker.pending.clear()
            level = logging.INFO if code == 0 and not lost else logging.WARNING
            why = f": {worker.last_error_line()}" if code and worker.last_error_line() else ""
            log.log(
                level,
                "crawl worker pid %d ended (%s, %d order(s) lost)%s", worker.pid, how, lost, why,
            )  # fmt: skip
            if code > 0 and not worker.answered and not self._closed:
                self._start_failed(how + why)  # it failed by itself, not by a signal
            self._fill()
            self._changed.notify_all()

    def _start_failed(self, why: str) -> None:
        """One more worker died before answering: past the second, delay the next start."""
        self._failed_starts += 1
        self._start_error = f"crawl workers die at start ({why})"
        if self._failed_starts < 2:
            return
        delay = min(MAX_START_DELAY, 2.0 ** (self._failed_starts - 2))
        self._start_at = time.monotonic() + delay
        log.error(
            "%s: %d in a row; next start in %gs", self._start_error, self._failed_starts, delay
        )

    def _drain_stderr(self, worker: _Worker) -> None:
        """Keep the worker's last log lines (Scrapy's), quoted when it dies."""
        stream = worker.process.stderr
        assert stream is not None
        # In pieces of at most STDERR_PIECE characters: a line that never ends (no newline)
        # must not grow in the daemon's memory.
        for text in iter(lambda: stream.readline(STDERR_PIECE), ""):
            worker.stderr.append(text.rstrip("\n"))

    # ---------------------------------------------------------------- orders

    def run(
        self,
        order: dict[str, Any],
        timeout: float,
        on_start: Callable[[int], object] | None = None,
    ) -> OrderResult | None:
        """Run one order on the least busy worker; its result once answered.

        ``order`` is the protocol's order without its id; ``timeout`` is the run's (as in
        the order). Returns None when the pool is closed (shutdown began).
        """
        started = time.monotonic()
        for _attempt in range(self.size + 2):
            placed = self._place(order)
            if placed is None:
                return None
            if isinstance(placed, str):
                return OrderResult(None, None, placed, False, time.monotonic() - started)
            worker, number, pending = placed
            if on_start is not None:
                on_start(worker.pid)
            timed_out = self._await(worker, number, pending, timeout + ANSWER_MARGIN)
            line = pending.line
            passing = line is not None and line.get("status") == "refused"
            if passing and str(line.get("error")) in _PASSING_REFUSALS:  # type: ignore[union-attr]
                continue
            duration = time.monotonic() - started
            return OrderResult(
                worker.pid, line, pending.error, timed_out, duration, pending.crashed
            )
        duration = time.monotonic() - started
        return OrderResult(None, None, "no crawl worker took the order", False, duration)

    def _place(self, order: dict[str, Any]) -> tuple[_Worker, int, _Pending] | str | None:
        """The worker, order number and pending answer of the order as sent; the reason
        when workers keep dying at start (the order fails at once, not in a queue)."""
        with self._changed:
            while True:
                if self._closed:
                    return None
                self._fill()
                taking = self._taking()
                if not taking and self._start_at > time.monotonic():
                    return self._start_error
                if not taking:
                    # None could start (fork failed): wait a moment for one, or shutdown.
                    self._changed.wait(1.0)
                    continue
                worker = min(taking, key=lambda w: len(w.pending))
                number = next(self._ids)
                pending = _Pending(str(order.get("topic") or order.get("url")))
                worker.pending[number] = pending
                try:
                    assert worker.process.stdin is not None
                    worker.process.stdin.write(json.dumps({**order, "order": number}) + "\n")
                    worker.process.stdin.flush()
                except (OSError, ValueError):  # it died: its reader replaces it
                    del worker.pending[number]
                    worker.draining = True
                    continue
                return worker, number, pending

    def _await(self, worker: _Worker, number: int, pending: _Pending, limit: float) -> bool:
        """Wait for the answer; past ``limit`` kill the worker (True: it was killed for it)."""
        if pending.done.wait(limit):
            return False
        with self._changed:
            if pending.done.is_set():
                return False
            log.error(
                "crawl worker pid %d did not answer order %d (%s) within %gs: SIGKILL",
                worker.pid, number, pending.topic, limit,
            )  # fmt: skip
            worker.killed_for = (
                f"the crawl worker pid {worker.pid} was killed: a run on it did not end"
                f" within its timeout ({pending.topic})"
            )
            worker.draining = True
            _kill(worker.process)
        pending.done.wait(KILL_GRACE * 2)
        return True

    # ---------------------------------------------------------------- shutdown

    def __len__(self) -> int:
        """Orders in flight."""
        with self._changed:
            return sum(len(w.pending) for w in self._workers)

    def close(self) -> None:
        """Take no more orders; end every worker's input, so each finishes its runs in
        flight and exits (0)."""
        with self._changed:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            workers = list(self._workers)
            for worker in workers:
                worker.draining = True
        for worker in workers:
            with contextlib.suppress(OSError, ValueError):
                assert worker.process.stdin is not None
                worker.process.stdin.close()

    def wait_gone(self, timeout: float, hurry: threading.Event | None = None) -> bool:
        """Wait until every worker has exited (True), ``timeout`` passes or ``hurry``."""
        return wait_empty(self._changed, lambda: self._workers, timeout, hurry)

    def signal_all(self, signum: signal.Signals) -> list[int]:
        """Send ``signum`` to every worker still running; return their pids."""
        with self._changed:
            processes = [w.process for w in self._workers]
        return signal_processes(processes, signum)

    def stop(self, grace: float, hurry: threading.Event | None = None) -> None:
        """Close, let runs finish within ``grace``, then SIGTERM (runs recorded aborted),
        then SIGKILL: the pool is gone within ``grace`` + 2 × KILL_GRACE."""
        self.close()
        if self.wait_gone(grace, hurry):
            return
        log.warning("stopping crawl worker(s) %s: SIGTERM", self.signal_all(signal.SIGTERM))
        if not self.wait_gone(KILL_GRACE):
            log.error(
                "crawl worker(s) %s ignored SIGTERM: SIGKILL", self.signal_all(signal.SIGKILL)
            )
            self.wait_gone(KILL_GRACE)

    # ---------------------------------------------------------------- status

    def snapshot(self) -> list[WorkerState]:
        """The workers now, as ``topicwatch status`` shows them."""
        with self._changed:
            workers = [
                (w.pid, iso(w.started_at), w.runs_done, tuple(w.topics()), w.draining)
                for w in self._workers
            ]
        return [WorkerState(*worker, rss_mb=resident_mb(worker[0])) for worker in workers]

    def describe(self) -> str:
        with self._changed:
            return self.describe_locked()

    def describe_locked(self) -> str:
        """One phrase per worker (pid, runs done, topics in flight) for the log."""
        return "; ".join(
            f"pid {w.pid}{' (draining)' if w.draining else ''}: {w.runs_done} run(s)"
            + (f", running {', '.join(w.topics())}" if w.pending else "")
            for w in self._workers
        )


def resident_mb(pid: int) -> float | None:
    """A process's resident memory in MiB, from ``/proc`` (None where that cannot be read:
    another OS, or the process just ended). Its own RSS, not its peak: what it holds now."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL the worker's whole process group (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
