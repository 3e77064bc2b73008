"""Delivering alerts to the operator's hooks: a webhook (JSON POST) and/or a command.

Hook targets often carry secrets (a token in the query string, a Slack webhook's path,
``user:password@``), so only :func:`mask_url` forms of them ever reach a log line, an
error message or ``topicwatch status``. Standard library only: the daemon imports this.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from crawler import USER_AGENT
from crawler.config import AlertConfig

WEBHOOK_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0


class HookError(Exception):
    """A hook could not be delivered; the message is safe to log (no secrets)."""


class HookNotConfigured(HookError):
    """The alert was queued for a hook the current configuration no longer has."""


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


def deliver(hook: str, alerts: AlertConfig, payload: dict[str, Any]) -> None:
    """Send one alert to one hook, or raise :class:`HookError`."""
    if hook == "webhook" and alerts.webhook:
        post_webhook(alerts.webhook, payload)
    elif hook == "command" and alerts.command:
        run_command(alerts.command, payload)
    else:
        raise HookNotConfigured(f"no {hook} is configured any more")


def post_webhook(url: str, payload: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT) -> None:
    """POST the payload as JSON; any 2xx answer counts as delivered."""
    target, authorization = _split_credentials(url)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(
        target,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        raise HookError(f"{mask_url(url)} answered HTTP {error.code}") from None
    except urllib.error.URLError as error:
        raise HookError(f"{mask_url(url)} unreachable: {error.reason}") from None
    except (TimeoutError, OSError) as error:
        raise HookError(f"{mask_url(url)} failed: {type(error).__name__}") from None
    if not 200 <= status < 300:
        raise HookError(f"{mask_url(url)} answered HTTP {status}")


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
    argv: tuple[str, ...], payload: dict[str, Any], timeout: float = COMMAND_TIMEOUT
) -> None:
    """Run the command with the payload as JSON on stdin (and the basics in the environment)."""
    name = os.path.basename(argv[0])
    env = {
        **os.environ,
        "TOPICWATCH_EVENT": str(payload.get("event", "")),
        "TOPICWATCH_TOPIC": str(payload.get("topic", "")),
        "TOPICWATCH_TEXT": str(payload.get("text", "")),
    }
    try:
        done = subprocess.run(
            list(argv),
            input=json.dumps(payload, ensure_ascii=False),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise HookError(f"command {name} not found") from None
    except subprocess.TimeoutExpired:
        raise HookError(f"command {name} timed out after {timeout:g}s") from None
    except OSError as error:
        raise HookError(f"command {name} failed: {error.strerror}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [""])[-1][:200]
        raise HookError(f"command {name} exited {done.returncode}: {last}")
