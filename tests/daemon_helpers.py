"""Helpers for the daemon tests: config files, a daemon process handle, polling, a gated
fixture site that holds crawls in flight, and a local webhook receiver.

Tests synchronise by polling the archive or the daemon's output against a deadline
(:func:`wait_until`), never by sleeping a guessed amount.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from conftest import child_env, rows
from fixture_site import FixtureSite

T = TypeVar("T")
FAST = {"DOWNLOAD_DELAY": "0", "RETRY_BACKOFF_BASE": "0.05", "DOWNLOAD_TIMEOUT": "5"}


def wait_until(predicate: Callable[[], T], timeout: float = 20.0, what: str = "") -> T:
    """Poll ``predicate`` every 50 ms until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.05)


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Like conftest.rows, but an archive (or table) that does not exist yet reads as empty."""
    if not db.exists():
        return []
    try:
        return rows(db, sql, params)
    except sqlite3.OperationalError:
        return []


def runs(db: Path, topic: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """The archive's crawl_runs rows (optionally of one topic name / status), oldest first."""
    sql = "SELECT id, topic, trigger, status, reason, error, started_at, finished_at, pid"
    sql += " FROM crawl_runs WHERE (?1 IS NULL OR topic = ?1) AND (?2 IS NULL OR status = ?2)"
    keys = ("id", "topic", "trigger", "status", "reason", "error", "started", "finished", "pid")
    return [
        dict(zip(keys, row, strict=True))
        for row in query(db, sql + " ORDER BY id", (topic, status))
    ]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def write_config(
    path: Path,
    db: Path,
    topics: list[dict[str, Any]],
    *,
    settings: dict[str, str] | None = None,
    alerts: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    **top: Any,
) -> Path:
    """A daemon config with fast test defaults (1 s heartbeat, no download delay)."""
    lines = [f"db = {toml_value(str(db))}", 'heartbeat = "1s"']
    lines += [f"{key} = {toml_value(value)}" for key, value in top.items()]
    for table, values in (("defaults", defaults), ("alerts", alerts)):
        if values:
            lines += [f"[{table}]", *(f"{k} = {toml_value(v)}" for k, v in values.items())]
    lines.append("[settings]")
    lines += [f"{k} = {toml_value(v)}" for k, v in {**FAST, **(settings or {})}.items()]
    for topic in topics:
        lines += ["[[topic]]", *(f"{k} = {toml_value(v)}" for k, v in topic.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Daemon:
    """``topicwatch daemon`` as a real child process, its stderr collected line by line."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "topicwatch", "daemon", "--config", str(config), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**child_env(), **(env or {})},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = 20.0) -> str:
        return wait_until(lambda: text in self.output, timeout, f"{text!r} in the daemon's log")

    def wait(self, timeout: float = 30.0) -> int:
        """The exit status, once the process has ended and its output is all read."""
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status (the daemon exits by itself within its grace)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.wait(10)

    def __enter__(self) -> Daemon:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            try:
                self.stop(timeout=40)
            except subprocess.TimeoutExpired:
                self.kill()


class GatedSite(FixtureSite):
    """The fixture site with a gate: while closed, requests wait, so a crawl stays in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def respond(self, method: str, target: str, headers: dict[str, str]) -> Any:
        self.gate.wait(timeout=30)
        return super().respond(method, target, headers)

    def stop(self) -> None:
        self.gate.set()
        super().stop()


class StartGate:
    """Holds every crawl child at interpreter start-up, before it can register its run.

    A ``sitecustomize`` module on the children's ``PYTHONPATH`` opens a FIFO, which blocks
    until :meth:`open` opens its other end: the test decides, not the machine's speed,
    whether a crawl is still starting when something happens to it.
    """

    SITE = (
        "import os, sys\n"
        "if 'crawl' in sys.orig_argv and os.environ.get('TW_START_GATE'):\n"
        "    open(os.environ['TW_START_GATE']).close()\n"
    )

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        (directory / "sitecustomize.py").write_text(self.SITE, encoding="utf-8")
        self.fifo = directory / "gate"
        os.mkfifo(self.fifo)
        self.env = {
            "TW_START_GATE": str(self.fifo),
            "PYTHONPATH": os.pathsep.join([str(directory), child_env()["PYTHONPATH"]]),
        }

    def open(self) -> None:
        """Release every child waiting now (a non-blocking open fails if none waits)."""
        os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))


class WebhookReceiver:
    """A local webhook endpoint on 127.0.0.1 that records every POSTed JSON body and path."""

    def __init__(self) -> None:
        received: list[tuple[str, dict[str, Any]]] = []
        self.received = received
        authorizations: list[str | None] = []
        self.authorizations = authorizations

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, json.loads(body)))
                authorizations.append(self.headers.get("Authorization"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Silenced."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[str]:
        return [body["event"] for _, body in self.received]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
