"""What a crawl prints besides its summary line: nothing about a request the run already
reports.

At Scrapy's default level a refused connection printed ~60 lines (the robots.txt
middleware logs its download error with a traceback, the retry middleware its give-up)
before the summary line, which says the same in one. At WARNING and above these two
loggers' errors are dropped: a listing page that cannot be fetched fails the run with its
error in the row and the line, and an article page that cannot is logged once by the
pipeline. ``--log-level INFO`` or ``DEBUG`` shows them all again.
"""

from __future__ import annotations

import logging

from scrapy.exceptions import UsageError

from topicwatch import LOG_LEVELS

# Scrapy's loggers whose errors repeat what a run records for its own requests.
_REPEATING = ("scrapy.downloadermiddlewares.robotstxt", "scrapy.downloadermiddlewares.retry")


class _RequestErrors(logging.Filter):
    """Drop ERROR records (the request failures the run reports), keep the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


_FILTER = _RequestErrors()


def quiet_request_errors(level: str) -> None:
    """At ``level`` WARNING or above, let the run's own line report failed requests."""
    for name in _REPEATING:
        logger = logging.getLogger(name)
        if logging.getLevelName(level.upper()) >= logging.WARNING:
            logger.addFilter(_FILTER)
        else:
            logger.removeFilter(_FILTER)


def check_log_level(value: object) -> None:
    """Refuse a level Python's logging does not know, before anything is created."""
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        raise UsageError(f"-s LOG_LEVEL={value!r}: expected one of {', '.join(LOG_LEVELS)}")
