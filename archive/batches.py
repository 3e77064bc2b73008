"""Lookups of many keys at once: ``IN (?, ?, …)`` lists cut to what SQLite takes.

One query per few hundred keys rather than one per key: a statement costs tens of
microseconds however little it reads, and a check of a topic page looks up every card.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

CHUNK = 500  # well under SQLite's 32766 host parameters

T = TypeVar("T")


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
