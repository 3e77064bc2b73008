"""The daemon's crawl jobs in progress: what each is doing, since when, and which overran.

Every job is bounded (its crawl by the topic's ``timeout``), yet a job that somehow
outlives its bound must not pass unnoticed, as the daemon's own 304 check (gone since
issue 15) stuck on a dripping server once did while ``topicwatch status`` said all was
well: the heartbeat asks :meth:`JobWatch.overdue` at each beat, and the daemon puts what
it finds on record and alerts. :meth:`JobWatch.wait_idle` bounds the wait for jobs at shutdown.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from topicwatch.daemon.config import TopicConfig


@dataclass
class Job:
    """One topic's job in progress; ``flagged`` once the watchdog has reported it."""

    topic: TopicConfig
    started: float  # time.monotonic()
    started_at: datetime
    phase: str = "starting"
    flagged: bool = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class JobWatch:
    """The jobs in progress, by topic name (a topic never runs twice at once)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._jobs: dict[str, Job] = {}

    def __len__(self) -> int:
        with self._changed:
            return len(self._jobs)

    def names(self) -> list[str]:
        with self._changed:
            return sorted(self._jobs)

    def begin(self, topic: TopicConfig, started_at: datetime) -> None:
        with self._changed:
            self._jobs[topic.name] = Job(topic, time.monotonic(), started_at)

    def phase(self, name: str, phase: str) -> None:
        """Say what the job is doing now, for the watchdog's report."""
        with self._changed:
            if name in self._jobs:
                self._jobs[name].phase = phase

    def end(self, name: str) -> None:
        with self._changed:
            self._jobs.pop(name, None)
            self._changed.notify_all()

    def overdue(self, slack: float) -> list[Job]:
        """Jobs running longer than their topic's timeout plus ``slack`` seconds."""
        with self._changed:
            return [job for job in self._jobs.values() if job.elapsed > job.topic.timeout + slack]

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._jobs:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True
