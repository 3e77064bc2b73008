"""The extractor's unit of output, shared by the card heuristics and structured data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One article as a listing page shows it (fields empty when the page does not)."""

    url: str
    headline: str = ""
    summary: str = ""
    published_at: str = ""
