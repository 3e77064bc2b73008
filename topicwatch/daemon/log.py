"""The daemon's log: one readable line per run on stderr, or JSON lines with ``--log-json``.

Operators read the text form in ``journalctl``; log shippers parse the JSON form. Both
carry the same facts: a record's ``fields`` (set with ``extra={"fields": {...}}``) become
JSON keys, and the message is always the readable line.

A line carries text from outside: site URLs and error messages, a hook's last line of
stderr, names from the config. Each record is escaped as the command line escapes what it
shows (:mod:`topicwatch.printable`): a line break or ``ESC`` in that text would let a
site forge a log record or act on the operator's terminal. A traceback keeps its lines,
each escaped.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, tzinfo
from typing import Any

from topicwatch.archive.runs import run_line
from topicwatch.printable import printable, printable_lines, to_json

LOGGER = "topicwatch.daemon"


class JsonLines(logging.Formatter):
    """One JSON object per record: at, level, message, and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return to_json(data, indent=None, default=str)


class TextLines(logging.Formatter):
    """``time LEVEL message``, one line per record whatever the message holds."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return printable_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return printable_lines(super().formatStack(stack_info))


def setup_logging(as_json: bool) -> logging.Logger:
    """Log the daemon (and APScheduler's own errors) to stderr; return the daemon's logger."""
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(TextLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # Missed and skipped runs are logged (and recorded) by the daemon's listeners.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    return logging.getLogger(LOGGER)


def run_fields(
    topic: str, status: str, run: dict[str, Any] | None, duration: float
) -> dict[str, Any]:
    """The JSON-lines form of :func:`archive.runs.run_line`."""
    fields: dict[str, Any] = {
        "event": "run",
        "topic": topic,
        "status": status,
        "duration": round(duration, 3),
    }
    if run is not None:
        for name in (
            "id",
            "pages",
            "items_seen",
            "items_new",
            "items_edited",
            "items_vanished",
            "reason",
            "error",
        ):
            fields["run_id" if name == "id" else name] = run.get(name)
    return fields


def run_record(
    topic: str,
    status: str,
    run: dict[str, Any] | None,
    duration: float,
    *,
    error: str | None,
    failures: int | None,
    alert_after: int,
    next_run: datetime | None,
    now: datetime,
    timezone: tzinfo,
) -> tuple[int, str, dict[str, Any]]:
    """Level, line and JSON fields of one finished run: failures are loud, alerting ones
    louder, and a failing topic's line says when it will be tried again."""
    line = run_line(topic, "FAILED" if status == "failed" else status, run, duration)
    if run is None and error:
        line += f" ({error})"
    fields = run_fields(topic, status, run, duration)
    fields["consecutive_failures"] = failures
    fields["next_run_at"] = next_run.astimezone(UTC).isoformat() if next_run else None
    level = logging.INFO
    if status == "busy":
        line = f"{topic}: skipped: another process is crawling this topic"
        level = logging.WARNING
    elif failures:
        backoff = " (backing off)" if failures >= 2 else ""
        line += f"; {failures} consecutive failure(s), next attempt{backoff}"
        line += f" {time_until(next_run, now, timezone)}"
        level = logging.ERROR if failures >= alert_after else logging.WARNING
    return level, line, fields


def time_until(moment: datetime | None, now: datetime, timezone: tzinfo) -> str:
    """``now``, or ``in 90s at 2026-02-14 12:30:00 JST``."""
    if moment is None:
        return "not scheduled"
    seconds = (moment - now).total_seconds()
    if seconds <= 1:
        return "now"
    return f"in {seconds:.0f}s at {moment.astimezone(timezone):%Y-%m-%d %H:%M:%S %Z}"


def span(seconds: float) -> str:
    """A duration as people read it: ``45s``, ``12m05s``, ``3h04m``, ``2d05h``."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"
