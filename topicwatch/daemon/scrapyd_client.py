"""One Scrapyd node's HTTP API, as the daemon uses it (standard library only).

Scrapyd answers application errors with HTTP 200 and ``"status": "error"`` (only bad
credentials give 401), so every answer's status is checked here and becomes
:class:`NodeRefused`; an unreachable node, a timeout or a server error is
:class:`NodeError`; refused credentials are :class:`NodeAuthError`, whose message says so
plainly and never carries the password. Proxies from the environment are not used: the
nodes are the operator's own machines. Redirects are not followed: Scrapyd never sends
one, and following it would send the credentials to wherever it points. Every request has
a deadline from connect to last byte (``TIMEOUT`` bounds one read only: a node trickling
a byte at a time would hold a job thread for ever), after which its socket is shut. The
transport is the daemon's one bounded HTTP client (:func:`topicwatch.daemon.http_fetch.fetch`),
which does all three; this module judges the answers.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, urlencode

from topicwatch.daemon.bounded import Abandoned
from topicwatch.daemon.http_fetch import FetchError, fetch
from topicwatch.printable import printable

TIMEOUT = 10.0  # seconds per request: a node that cannot answer within it is unreachable
MAX_FEED_BYTES = 512 * 1024 * 1024  # a job's feed holds its runs' page bodies
CALL_DEADLINE = 30.0  # seconds for a whole API call, from connect to its last byte
FEED_DEADLINE = 300.0  # for a whole feed (up to MAX_FEED_BYTES)
SAID = 300  # characters of a node's own message kept in an error


class NodeError(Exception):
    """The node could not be reached or did not answer usably."""


class NodeAuthError(NodeError):
    """The node refused the credentials (HTTP 401)."""


class FeedTooLarge(NodeError):
    """The job's feed is past MAX_FEED_BYTES: the job's fault, not the node's."""


class NodeRefused(NodeError):
    """The node answered ``"status": "error"`` (an unknown project, version or spider)."""


class NodeClient:
    """Calls to one node; each raises NodeError (or a subclass) rather than hanging."""

    def __init__(self, url: str, username: str = "", password: str = "") -> None:
        self.url = url.rstrip("/")
        self._auth = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            if username
            else ""
        )

    def schedule(
        self,
        project: str,
        spider: str,
        job: str,
        *,
        version: str,
        args: dict[str, str],
        settings: dict[str, str],
    ) -> None:
        fields: dict[str, Any] = {"project": project, "spider": spider, "jobid": job, **args}
        fields["setting"] = [f"{name}={value}" for name, value in settings.items()]
        if version:
            fields["_version"] = version
        taken = self._json("schedule.json", fields).get("jobid")
        if taken != job:
            # Followed under our id, a job of another id would run unwatched: cancel it.
            if isinstance(taken, str) and taken:
                self.cancel(project, taken)
            raise NodeRefused(
                f"{self.url}: schedule.json: took the job as {_said(taken)}, not {job} "
                "(a Scrapyd that ignores jobid)"
            )

    def state(self, project: str, job: str) -> str | None:
        """``pending``, ``running``, ``finished``, or None: the node does not know the job
        (it never got it, or forgot it: a restart with in-memory job storage)."""
        answer = self._json(f"status.json?project={quote(project)}&job={quote(job)}")
        state = answer.get("currstate")
        return None if state is None else str(state)

    def cancel(self, project: str, job: str) -> None:
        self._json("cancel.json", {"project": project, "job": job})

    def feed(self, project: str, spider: str, job: str) -> bytes | None:
        """The job's feed as written so far (None: no feed file, yet or any more)."""
        path = f"items/{quote(project)}/{quote(spider)}/{quote(job)}.jl"
        try:
            return self._open(path, None, limit=MAX_FEED_BYTES, within=FEED_DEADLINE)
        except _NotFound:
            return None
        except _TooLarge as error:
            raise FeedTooLarge(f"{self.url}: feed of job {job} {error}") from None

    def daemonstatus(self) -> tuple[int, int]:
        """The node's running and pending jobs (of every project)."""
        answer = self._json("daemonstatus.json")
        counts = answer.get("running", 0), answer.get("pending", 0)
        if not all(type(count) is int and 0 <= count < 2**31 for count in counts):
            raise NodeError(f"{self.url}: daemonstatus.json did not answer job counts")
        return counts

    # ------------------------------------------------------------------ transport

    def _json(self, path: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if fields is None else urlencode(fields, doseq=True).encode()
        try:
            answer = json.loads(self._open(path, data, limit=1024 * 1024, within=CALL_DEADLINE))
        except _TooLarge as error:
            raise NodeError(f"{self.url}: {path.split('?')[0]} answer {error}") from None
        except _NotFound:
            raise NodeError(f"{self.url}: no {path.split('?')[0]} (not a Scrapyd node?)") from None
        except (ValueError, RecursionError):  # RecursionError: JSON nested past the stack
            raise NodeError(f"{self.url}: {path.split('?')[0]} did not answer JSON") from None
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise NodeRefused(f"{self.url}: {path.split('?')[0]}: {_said(message)}")
        return answer

    def _open(self, path: str, data: bytes | None, *, limit: int, within: float) -> bytes:
        headers = {"Authorization": self._auth} if self._auth else {}
        call = path.split("?")[0]
        try:
            answer = fetch(
                f"{self.url}/{path}", headers=headers, timeout=within, what=f"{self.url}/{call}",
                method="GET" if data is None else "POST", data=data, max_bytes=limit + 1,
                read_timeout=TIMEOUT, proxies=False,
            )  # fmt: skip
        except Abandoned:
            raise NodeError(f"{self.url}: {call}: no whole answer within {within:g}s") from None
        except FetchError as error:
            raise NodeError(f"{self.url}: unreachable ({_said(error)})") from None
        status, body = answer.status, answer.body
        if status == 401:
            raise NodeAuthError(
                f"{self.url}: 401 Unauthorized: the node refused the [scrapyd] credentials"
            )
        if status == 404:
            raise _NotFound()
        if 300 <= status < 400:
            raise NodeError(
                f"{self.url}: HTTP {status} redirect not followed (give the node's "
                "own URL in [scrapyd] nodes)"
            )
        if status >= 400:
            raise NodeError(f"{self.url}: HTTP {status} {_said(answer.reason)}")
        if len(body) > limit:
            raise _TooLarge(f"larger than {limit // 1024} KiB")
        length = answer.headers.get("Content-Length", "")
        if length.isdigit() and int(length) != len(body):  # a dropped socket ends read() early
            raise NodeError(f"{self.url}: unreachable (answer cut short)")
        return body


class _NotFound(Exception):
    pass


class _TooLarge(Exception):
    pass


def _said(text: object) -> str:
    """What a node said, as one bounded line: it goes to the log, the run's error and
    ``topicwatch status``, where a line break would forge a line of its own."""
    shown = printable(str(text))
    return shown if len(shown) <= SAID else shown[:SAID] + "…"
