"""The HTTP requests the daemon makes itself (webhooks: pages are Scrapy's), bounded.

Every request has a total deadline, enforced around it by :func:`crawler.bounded.bounded`
(urllib's ``timeout`` only bounds each socket read), and its socket is shut down when it
is abandoned, so no thread is left reading a server that drips. Redirects are never
followed and every status comes back as an :class:`Answer` rather than an HTTPError: the
caller judges a 3xx (a webhook counts it as not delivered), so nothing, credentials least
of all, is ever sent to a ``Location`` the operator did not configure. The header block
is capped at :data:`MAX_HEADER_BYTES` in all, informational ``1xx`` answers included:
http.client alone reads up to 100 lines of 64 KiB each, and ``100 Continue`` answers
without end (a server sent 19 GB in a 20 s deadline).
Proxies come from the environment at each call, as the crawl child takes them. Standard
library only: the daemon imports this.
"""

from __future__ import annotations

import functools
import http.client
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

from topicwatch.daemon.bounded import Inflight, Task, bounded

# Real answers send a few KiB of headers (Scrapy's own limit per line is 64 KiB).
MAX_HEADER_BYTES = 64 * 1024


class FetchError(Exception):
    """No HTTP answer: a network failure or a malformed answer. No URL in the message."""


@dataclass(frozen=True)
class Answer:
    """A complete answer: status, headers and (up to the caller's limit) the body."""

    status: int
    headers: Message
    body: bytes
    reason: str = ""  # the status line's own words, as the server sent them


def fetch(
    url: str,
    *,
    headers: dict[str, str],
    timeout: float,
    what: str,
    method: str = "GET",
    data: bytes | None = None,
    max_bytes: int = 0,
    inflight: Inflight | None = None,
    read_timeout: float | None = None,
    proxies: bool = True,
) -> Answer:
    """Send one request and read its answer (at most ``max_bytes`` of body) in ``timeout``
    seconds in all, connecting and resolving included.

    ``read_timeout``: the limit on one socket read (default ``timeout``); ``proxies=False``
    ignores the environment's proxies (the operator's own hosts, such as Scrapyd nodes).

    Raises :class:`FetchError`, or :class:`crawler.bounded.Abandoned` at the deadline (or
    :class:`crawler.bounded.Cancelled` once ``inflight`` is closed). ``what`` names the
    request in those messages and must be safe to log.
    """
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    per_read = timeout if read_timeout is None else read_timeout
    exchange = functools.partial(_exchange, request, per_read, max_bytes, proxies)
    return bounded(exchange, timeout, what=what, inflight=inflight)


def _exchange(
    request: urllib.request.Request, timeout: float, limit: int, proxies: bool, task: Task
) -> Answer:
    handlers: list[Any] = [_Plain(task), _Secure(task), _EveryStatus]
    if not proxies:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(limit) if limit > 0 else b""
            return Answer(response.status, response.headers, body, response.reason or "")
    except urllib.error.URLError as error:
        raise FetchError(f"unreachable: {_reason(error.reason)}") from None
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise FetchError(f"failed: {type(error).__name__}: {_reason(error)}") from None


def _reason(error: object) -> str:
    text = str(error).strip()
    return text[:200] if text else type(error).__name__


class _EveryStatus(urllib.request.HTTPErrorProcessor):
    """Hand every status to the caller: no HTTPError, so no redirect is ever followed."""

    def http_response(self, request: Any, response: Any) -> Any:
        return response

    https_response = http_response


class _Plain(urllib.request.HTTPHandler):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task

    def http_open(self, req: Any) -> Any:
        return self.do_open(
            functools.partial(_connection, http.client.HTTPConnection, self.task), req
        )


class _Secure(urllib.request.HTTPSHandler):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task

    def https_open(self, req: Any) -> Any:
        connection = functools.partial(_connection, http.client.HTTPSConnection, self.task)
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


def _connection(
    kind: type[http.client.HTTPConnection], task: Task, host: str, **kwargs: Any
) -> Any:
    """An http.client connection whose socket the task holds: shut down when abandoned
    (that wakes a read blocked in another thread), from before any TLS handshake on."""
    connection = kind(host, **kwargs)
    connection.response_class = _CappedResponse
    create = connection._create_connection  # type: ignore[attr-defined]

    def create_held(*args: Any, **kw: Any) -> socket.socket:
        sock: socket.socket = create(*args, **kw)
        task.hold(functools.partial(_shut, sock))
        return sock

    connection._create_connection = create_held  # type: ignore[attr-defined]
    return connection


class _HeaderBudget:
    """The response's file while its header block is read: every line counts against one
    budget, so neither long lines nor endless ``1xx`` answers can keep it reading."""

    def __init__(self, fp: Any, limit: int) -> None:
        self.fp = fp
        self.left = limit

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self.fp.readline(size)
        self.left -= len(line)
        if self.left < 0:
            raise http.client.HTTPException(f"response headers over {MAX_HEADER_BYTES} bytes")
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fp, name)


class _CappedResponse(http.client.HTTPResponse):
    """An HTTPResponse whose status lines and headers may take ``MAX_HEADER_BYTES`` in all."""

    def begin(self) -> None:
        raw = self.fp
        self.fp = _HeaderBudget(raw, MAX_HEADER_BYTES)  # type: ignore[assignment]
        try:
            super().begin()
        finally:
            if isinstance(self.fp, _HeaderBudget):
                self.fp = raw


def _shut(sock: socket.socket) -> None:
    sock.shutdown(socket.SHUT_RDWR)
