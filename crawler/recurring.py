"""A bounded memory of results that recur from one check of a page to the next.

A warm crawl worker checks the same listings again and again, and a changed listing is
mostly the cards it showed last time (one new on top, the oldest gone). What is read
from a card depends on nothing but the card's markup and the page's URL, so a result
computed once can be handed back while the card stays on the page, instead of walking
its elements and cleaning its texts again on every check.

Keys are the complete inputs (for a card: the page URL, its article URL and its
serialised markup), so a remembered result is exactly what computing it would give.
Memory is bounded by the bytes of the keys, not by a count: one huge card cannot make
the worker grow, and the least recently used entries go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class RecentResults(Generic[V]):
    """The results of the most recently used keys, within ``budget`` bytes of keys.

    A key costs its ``size`` (given by the caller, e.g. the length of the markup in it);
    a key bigger than ``largest`` is never remembered: its result is computed each time.
    """

    def __init__(self, budget: int, largest: int) -> None:
        self.budget, self.largest = budget, largest
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, size: int, compute: Callable[[], V]) -> V:
        """The result for ``key``: remembered, or computed now (and remembered)."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found[0]
        value = compute()
        if size > self.largest:
            return value
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (value, size)
                self._used += size
            while self._used > self.budget and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._used -= dropped
        return value

    def __len__(self) -> int:
        return len(self._entries)
