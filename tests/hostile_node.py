"""A hostile HTTP server posing as a Scrapyd node, on 127.0.0.1: each path answers as a
test tells it (non-JSON, a redirect, a trickle, a forged feed), and every request is kept."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

Route = Callable[[BaseHTTPRequestHandler], None]


class HostileNode:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.jobs: list[str] = []  # the job ids schedule.json was given
        self.closing = threading.Event()  # set on stop: a trickling answer gives up
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                if self.path.startswith("/schedule.json"):
                    outer.jobs += parse_qs(body.decode()).get("jobid", [])
                path = self.path.split("?")[0]
                for prefix, route in outer.routes.items():
                    if path.startswith(prefix):
                        return route(self)
                reply(self, b"", 404)

            do_GET = do_POST = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def scrapyd(self, feed: Callable[[str], bytes], state: str = "finished") -> None:
        """Answer as a node that takes every job and lists it ``state``, with ``feed(job)``."""
        self.routes["/schedule.json"] = lambda h: reply(h, {"status": "ok", "jobid": self.jobs[-1]})
        self.routes["/status.json"] = lambda h: reply(h, {"status": "ok", "currstate": state})
        self.routes["/daemonstatus.json"] = lambda h: reply(
            h, {"status": "ok", "running": 0, "pending": 0}
        )
        self.routes["/items/"] = lambda h: reply(h, feed(self.jobs[-1]))

    def __enter__(self) -> HostileNode:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


def reply(
    handler: BaseHTTPRequestHandler,
    body: Any,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
