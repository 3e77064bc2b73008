"""``Retry-After`` as servers really send it: delta-seconds, HTTP dates in any zone
spelling, and garbage, which must fall back to the ordinary backoff (None), never raise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from topicwatch.crawler.middlewares import retry_after_seconds

NOW = datetime(2026, 2, 14, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (b"0", 0.0),
        (b"120", 120.0),
        (b" 7 ", 7.0),
        (b"Sat, 14 Feb 2026 12:00:30 GMT", 30.0),
        (b"Sat, 14 Feb 2026 12:00:30 -0000", 30.0),  # RFC 2822 "unknown zone": naive
        (b"Sat, 14 Feb 2026 12:00:30 +0000", 30.0),
        (b"Sat, 14 Feb 2026 21:00:30 +0900", 30.0),
        (b"Saturday, 14-Feb-26 12:01:00 GMT", 60.0),  # RFC 850
        (b"Sat Feb 14 12:01:00 2026", 60.0),  # asctime, no zone at all
        (b"Wed, 21 Oct 2015 07:28:00 -0000", 0.0),  # in the past: retry now
        (b"Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_readable_values(header, seconds):
    assert retry_after_seconds(header, NOW) == seconds


@pytest.mark.parametrize(
    "header",
    [
        None,
        b"",
        b"soon",
        b"-5",
        b"1.5",
        "\u00b2".encode("latin-1"),  # isdigit() is true for "²"
        b"Wed, 32 Oct 2015 07:28:00 GMT",
        b"Wed, 21 Oct 99999 07:28:00 GMT",
        b"\xff\xfe",
    ],
)
def test_unreadable_values_mean_the_ordinary_backoff(header):
    assert retry_after_seconds(header, NOW) is None
