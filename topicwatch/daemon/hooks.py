"""Delivering alerts to the operator's hooks: a webhook (JSON POST) and/or a command.

Hook targets often carry secrets (a token in the query string, a Slack webhook's path,
``user:password@``), so only :func:`mask_url` forms of them ever reach a log line, an
error message or ``topicwatch status``. Each delivery ends within its timeout in all
(crawler.bounded) and can be abandoned when the daemon stops. Standard library only:
the daemon imports this.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import threading
from functools import partial
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from topicwatch import USER_AGENT
from topicwatch.daemon.bounded import Abandoned, Cancelled, Inflight, Task, bounded
from topicwatch.daemon.config import AlertConfig
from topicwatch.daemon.http_fetch import FetchError, fetch

WEBHOOK_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0
STDERR_TAIL = 4096  # bytes of a command's stderr kept: its last line is the reason
ENV_CHARS = 4096  # of each TOPICWATCH_* variable given to a command


class HookError(Exception):
    """A hook could not be delivered; the message is safe to log (no secrets)."""


class HookNotConfigured(HookError):
    """The alert was queued for a hook the current configuration no longer has."""


class HookCancelled(HookError):
    """Delivery was cut short because the daemon is stopping: no attempt to count."""


def mask_url(url: str) -> str:
    """``https://hooks.example.com/…``: scheme, host and port only.

    Credentials live in userinfo, the query, and for many services (Slack, Discord) in
    the path itself, so all three are hidden.
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    hidden = parts.path.strip("/") or parts.query or parts.username or parts.fragment
    return f"{parts.scheme}://{host}{port}/{'…' if hidden else ''}"


def describe_hook(hook: str, alerts: AlertConfig) -> str:
    """A log-safe name for a hook target."""
    if hook == "webhook" and alerts.webhook:
        return f"webhook {mask_url(alerts.webhook)}"
    if hook == "command" and alerts.command:
        return f"command {os.path.basename(alerts.command[0])}"  # arguments may hold tokens
    return hook


def deliver(
    hook: str, alerts: AlertConfig, payload: dict[str, Any], inflight: Inflight | None = None
) -> None:
    """Send one alert to one hook, or raise :class:`HookError` (:class:`HookCancelled`
    when ``inflight`` was closed: the daemon is stopping, the alert stays as it was)."""
    if hook == "webhook" and alerts.webhook:
        post_webhook(alerts.webhook, payload, inflight=inflight)
    elif hook == "command" and alerts.command:
        run_command(alerts.command, payload, inflight=inflight)
    else:
        raise HookNotConfigured(f"no {hook} is configured any more")


def post_webhook(
    url: str,
    payload: dict[str, Any],
    timeout: float = WEBHOOK_TIMEOUT,
    inflight: Inflight | None = None,
) -> None:
    """POST the payload as JSON; delivered means a 2xx answer to this very POST.

    Within ``timeout`` in all (a webhook that drips its answer is abandoned). A redirect is
    never followed: following it would re-send the request, as a GET without the payload
    and with the Basic credentials, to whatever host the ``Location`` names.
    """
    target, authorization = _split_credentials(url)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    if authorization:
        headers["Authorization"] = authorization
    shown = mask_url(url)
    try:
        answer = fetch(
            target, headers=headers, timeout=timeout, what=f"webhook {shown}", method="POST",
            data=json.dumps(payload, ensure_ascii=False).encode("utf-8"), inflight=inflight,
        )  # fmt: skip
    except Cancelled as error:
        raise HookCancelled(str(error)) from None
    except Abandoned:
        raise HookError(f"{shown} did not answer within {timeout:g}s") from None
    except FetchError as error:
        raise HookError(f"{shown} {error}") from None
    if 300 <= answer.status < 400:
        raise HookError(f"{shown} answered HTTP {answer.status} (redirects are not followed)")
    if not 200 <= answer.status < 300:
        raise HookError(f"{shown} answered HTTP {answer.status}")


def _split_credentials(url: str) -> tuple[str, str | None]:
    """``https://user:pw@host/…`` as the URL without userinfo and a Basic auth header.

    urllib does not take credentials from the URL: it would ask the resolver for a host
    named ``user:pw@host``, sending the password to DNS. HTTP Basic is what such a URL means.
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"


def run_command(
    argv: tuple[str, ...],
    payload: dict[str, Any],
    timeout: float = COMMAND_TIMEOUT,
    inflight: Inflight | None = None,
) -> None:
    """Run the command with the payload as JSON on stdin (and the basics in the environment)."""
    name = os.path.basename(argv[0])
    env = {
        **os.environ,
        "TOPICWATCH_EVENT": str(payload.get("event", ""))[:ENV_CHARS],
        "TOPICWATCH_TOPIC": str(payload.get("topic", ""))[:ENV_CHARS],
        # One variable may hold 128 KiB (E2BIG): the whole text is on stdin.
        "TOPICWATCH_TEXT": str(payload.get("text", ""))[:ENV_CHARS],
    }
    text = json.dumps(payload, ensure_ascii=False)
    try:
        returncode, stderr = bounded(
            partial(_run, list(argv), text, env), timeout, what=f"command {name}",
            inflight=inflight,
        )  # fmt: skip
    except FileNotFoundError:
        raise HookError(f"command {name} not found") from None
    except Cancelled as error:
        raise HookCancelled(str(error)) from None
    except Abandoned:
        raise HookError(f"command {name} timed out after {timeout:g}s") from None
    except OSError as error:
        raise HookError(f"command {name} failed: {error.strerror}") from None
    if returncode != 0:
        last = (stderr.strip().splitlines() or [""])[-1][:200]
        raise HookError(f"command {name} exited {returncode}: {last}")


def _run(argv: list[str], stdin: str, env: dict[str, str], task: Task) -> tuple[int, str]:
    """The command to its end; killed (with its process group) if abandoned.

    Only the last ``STDERR_TAIL`` bytes of its stderr are kept (its last line is the
    reason shown) and its stdout is not read at all: ``communicate()`` kept both, and a
    command that printed without end (``yes``) grew the daemon by 4 GB in 5 s.
    """
    process = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    task.hold(partial(os.killpg, process.pid, signal.SIGKILL))
    assert process.stdin is not None and process.stderr is not None
    feeder = threading.Thread(target=_feed, args=(process.stdin, stdin.encode()), daemon=True)
    feeder.start()  # a command that never reads stdin must not block us writing it
    tail = b""
    with process.stderr:
        while chunk := os.read(process.stderr.fileno(), 65536):
            tail = (tail + chunk)[-STDERR_TAIL:]
    return process.wait(), tail.decode("utf-8", "replace")


def _feed(stream: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError), stream:  # the command exited (or closed stdin) first
        stream.write(data)
