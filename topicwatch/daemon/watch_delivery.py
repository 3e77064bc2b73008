"""Delivering watches: the message for a change (or a digest), sent to each destination.

One round (:func:`deliver_due`) matches what was committed since the last round, then
sends what is due, each delivery within :data:`WATCH_TIMEOUT` in all (crawler.bounded),
and records it; the daemon runs rounds on a courier thread of their own (never a crawl's
or the heartbeat's), ``topicwatch watches send`` runs one. Both hold the archive's
delivery lock while they send, so a row is never sent by both. Webhook and command
destinations go through the alert hooks' own code (daemon.hooks); Apprise URLs through
Apprise, imported here only when a message goes to one. Apprise gets the plain text
for a destination whose format is text and Markdown for the others (it renders Markdown
as HTML for e-mail).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import sqlite_utils

from topicwatch.archive.change_feed import Change
from topicwatch.archive.diff import char_diff, render
from topicwatch.archive.watches import (
    Delivery,
    due_deliveries,
    mark_delivery,
    queue_changes,
    skip_rows,
)
from topicwatch.daemon.bounded import Abandoned, Cancelled, Inflight, Task, bounded
from topicwatch.daemon.hooks import HookCancelled, HookError, post_webhook, run_command
from topicwatch.daemon.watch_config import Destination, WatchConfig

WATCH_TIMEOUT = 30.0  # seconds per delivery, all retries of Apprise's own included
log = logging.getLogger("topicwatch.daemon")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#~|])")

Opener = Callable[[], AbstractContextManager[sqlite_utils.Database]]


@dataclass(frozen=True)
class Message:
    """One message in every form a destination may want."""

    title: str
    text: str
    markdown: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Sent:
    """What became of one delivery: ``error`` None when the destination accepted it."""

    watch: str
    destination: str
    changes: int
    error: str | None


def deliver_due(
    open_db: Opener,
    watches: Sequence[WatchConfig],
    now: Callable[[], datetime],
    inflight: Inflight | None = None,
) -> list[Sent]:
    """Match new changes, then send and record every due delivery (hold the delivery
    lock around it). Stops early, leaving the rest pending, when ``inflight`` closes."""
    by_name = {watch.name: watch for watch in watches}
    rules = [watch.rule for watch in watches]
    with open_db() as db:
        queue_changes(db, rules, now())
        deliveries, orphans = due_deliveries(db, rules, now())
        if orphans:
            skip_rows(db, orphans, "the watch or destination is no longer configured")
    results = []
    for delivery in deliveries:
        watch = by_name[delivery.watch]
        destination = watch.destination(delivery.destination)
        assert destination is not None  # due_deliveries left out the unknown ones
        try:
            send(destination, compose(watch, delivery), inflight)
            error = None
        except HookCancelled:
            break
        except HookError as problem:
            error = str(problem)
        with open_db() as db:
            mark_delivery(db, delivery, now(), error)
        results.append(Sent(watch.name, destination.label, len(delivery.changes), error))
    return results


def send(destination: Destination, message: Message, inflight: Inflight | None = None) -> None:
    """Deliver ``message`` to one destination within :data:`WATCH_TIMEOUT`, or raise
    :class:`HookError` (:class:`HookCancelled` when ``inflight`` closed)."""
    if destination.kind == "webhook":
        assert isinstance(destination.target, str)
        post_webhook(destination.target, message.payload, WATCH_TIMEOUT, inflight)
    elif destination.kind == "command":
        assert isinstance(destination.target, tuple)
        run_command(destination.target, message.payload, WATCH_TIMEOUT, inflight)
    else:
        assert isinstance(destination.target, str)
        work = partial(_notify_apprise, destination.target, message)
        try:
            problem = bounded(work, WATCH_TIMEOUT, what=destination.label, inflight=inflight)
        except Cancelled as error:
            raise HookCancelled(str(error)) from None
        except Abandoned:
            raise HookError(f"no answer within {WATCH_TIMEOUT:g}s") from None
        if problem is not None:
            raise HookError(f"not notified: {problem}")  # the caller names the destination


class _Warnings(logging.Handler):
    """Apprise's warnings during one notification: its reason for a failure (they name
    the host only; its debug lines, which show paths and payloads, are not collected)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _notify_apprise(url: str, message: Message, task: Task) -> str | None:
    """Notify ``url`` through Apprise; None when it accepted, else Apprise's reason."""
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        return "not a URL Apprise can notify"
    formats = plugin.notify_format
    primary = formats[0] if isinstance(formats, tuple) else formats
    text = primary == apprise.NotifyFormat.TEXT
    notifier = apprise.Apprise()
    notifier.add(plugin)
    source = logging.getLogger("apprise")
    source.setLevel(logging.WARNING)  # its INFO lines ("Notifying 1 service(s)") are noise
    warnings = _Warnings()
    source.addHandler(warnings)
    try:
        accepted = notifier.notify(
            body=message.text if text else message.markdown,
            title=message.title,
            body_format=apprise.NotifyFormat.TEXT if text else apprise.NotifyFormat.MARKDOWN,
        )
    finally:
        source.removeHandler(warnings)
    if accepted:
        return None
    return warnings.messages[-1] if warnings.messages else "refused by Apprise"


# --------------------------------------------------------------------------- messages


def compose(watch: WatchConfig, delivery: Delivery) -> Message:
    """The message for a delivery: one change, or a digest of several."""
    changes = delivery.changes
    if len(changes) == 1:
        only = changes[0]
        title = f"[{only.topic}] {only.kind}: {only.headline or only.url}"
    else:
        title = f"topicwatch {watch.name}: {len(changes)} changes"
    payload = {
        "event": "watch",
        "watch": watch.name,
        "idempotency_key": delivery.key,
        "title": title,
        "changes": [_change_json(change) for change in changes],
        "text": "\n\n".join(_text(change) for change in changes),
    }
    return Message(
        title,
        str(payload["text"]),
        "\n\n---\n\n".join(_markdown(change) for change in changes),
        payload,
    )


def _diffs(change: Change) -> dict[str, dict[str, str]]:
    return {
        name: {"before": before, "after": after, "diff": render(char_diff(before, after))}
        for name, before, after in change.edits()
    }


def _change_json(change: Change) -> dict[str, Any]:
    """The change as ``topicwatch changes --json`` gives it, with its link and diff."""
    return {**change.to_json(), "link": change.url, "diff": _diffs(change)}


def _text(change: Change) -> str:
    lines = [f"{change.topic} · {change.kind}: {change.headline or change.url}"]
    if change.summary:
        lines.append(change.summary)
    lines.append(change.url)
    lines += [f"{name}: {diff['diff']}" for name, diff in _diffs(change).items()]
    return "\n".join(lines)


def _markdown(change: Change) -> str:
    headline = _escape(change.headline or change.url)
    parts = [f"**{_escape(change.topic)}** · *{change.kind}*: [{headline}]({change.url})"]
    if change.summary:
        parts.append(_escape(change.summary))
    parts += [
        f"{name}: ~~{_escape(diff['before'])}~~ → **{_escape(diff['after'])}**"
        for name, diff in _diffs(change).items()
    ]
    return "\n\n".join(parts)


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def sample_delivery(watch: WatchConfig, now: datetime) -> Delivery:
    """An edited change that never happened, for ``topicwatch watches test``."""
    change = Change(
        id=0, at=now.isoformat(timespec="seconds"), kind="edited", fields=("headline",),
        topic=(watch.topics or ("sample",))[0], item_id=0, url="https://example.com/topicwatch-test",
        headline="topicwatch test: new headline", summary="A sample message from topicwatch.",
        published_at="", first_seen_at="", version=2, run_id=0,
        headline_before="topicwatch test: old headline", summary_before=None,
    )  # fmt: skip
    return Delivery(watch.name, "test", (0,), [change])
