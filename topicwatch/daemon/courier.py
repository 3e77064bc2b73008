"""The daemon's couriers: each delivers an outbox (alerts, watches) on a thread of its own.

A webhook that dripped its answer used to hold whichever thread delivered: a crawl job's
(keeping a concurrency slot) or the heartbeat's (so ``topicwatch status`` called a live
daemon dead, and a queued alert "sent"). Now crawl jobs and the heartbeat only queue and
:meth:`Courier.wake` it; this thread alone waits on hooks, each delivery bounded
(crawler.hooks). At shutdown :meth:`Courier.stop` gives it one last round, bounded, and
then abandons a delivery still in flight, leaving that alert pending for the next start.
Standard library only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from topicwatch.daemon.bounded import Inflight

log = logging.getLogger("topicwatch.daemon")


class Courier:
    """Runs ``send(inflight)`` whenever woken, one delivery round at a time."""

    def __init__(self, send: Callable[[Inflight], None], name: str = "alert courier") -> None:
        self._send = send
        self._name = name
        self.inflight = Inflight()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Deliver what is pending (soon, on the courier's thread; never waits)."""
        self._wake.set()

    def stop(self, within: float) -> bool:
        """One last round for what is pending, for up to ``within`` seconds; then abandon
        the delivery in flight (that alert stays pending). False if the thread lingers."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(max(within, 0.0))
        if self._thread.is_alive():
            self.inflight.close()
            self._thread.join(1.0)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            last = self._stopping.is_set()
            try:
                self._send(self.inflight)
            except Exception:  # the courier must outlive any one round (a locked archive...)
                log.exception(
                    "%s: delivery round failed; retrying at the next heartbeat", self._name
                )
            if last:
                return
