"""Fault injection for end-to-end tests: the fixture site misbehaving, on 127.0.0.0/8 only.

:class:`FaultSite` is the fixture site with faults a plain ``serve_raw``/``fail`` cannot
express, because they live below the HTTP response: a body cut short of its
``Content-Length``, headers sent and then silence, a request read and never answered, a
port that stops listening, the listing changing between two pages of one run. Faults are
keyed by path so robots.txt and the other pages keep working, as on a real site.

A dripping path (:data:`DRIP`) answers its status line and then one header byte every
fraction of a second, for ever: no read ever times out, only a total deadline ends it.

Around it: a port that refuses connections, a listener on 127.0.0.2 that records whether
anything connected (a redirect or link to "another site" must never be followed), a DNS
resolver for the crawl child that resolves nothing but literal addresses (so a DNS
failure is tested without a query leaving the machine), and a gzip bomb.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from fixture_site import FixtureSite, _Handler, _Server, load_seed_articles
from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer
from twisted.internet.error import DNSLookupError

# How a faulty path delivers its (otherwise normal) response.
TRUNCATE = "truncate"  # Content-Length promises twice the bytes sent; then the socket closes
STALL = "stall"  # headers and the first bytes of the body, then nothing until released
HANG = "hang"  # the request is read and logged, and never answered until released
UNSIZED = "unsized"  # no Content-Length: the body ends when the server closes the socket
DRIP = "drip"  # the status line, then one header byte every `drip_every` s until released
DELIVERIES = (TRUNCATE, STALL, HANG, UNSIZED, DRIP)


class FaultSite(FixtureSite):
    """The fixture site plus per-path delivery faults, holds and between-request actions.

    ``conditional`` is off by default: every fault test's successful run then parses the
    page for real, so "no false change" is checked against a full re-read, not a 304.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conditional = False
        self._deliveries: dict[str, str] = {}
        self._gates: dict[str, threading.Event] = {}
        self._after: dict[str, Callable[[], None]] = {}
        self._arrivals: list[tuple[str, float]] = []
        self._hangups: list[tuple[str, float]] = []
        self._port = 0
        self.drip_every = 0.2  # seconds between dripped bytes: far below any read timeout

    # ---- lifecycle

    def start(self) -> FaultSite:
        """Serve on the same port as before a :meth:`down`, else an ephemeral one."""
        if self._server is not None:
            return self
        self._server = _FaultServer(self, self._port)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="fault-site",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        super().stop()

    def __enter__(self) -> FaultSite:
        return self.start()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Stop listening (connections are refused), then serve again on the same port."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def reset(self) -> None:
        """Back to the seed listing with no faults, so module-scoped sites serve many tests."""
        self.release()
        with self._lock:
            self.topics = {"nato": load_seed_articles()}
            self._per_page = 20
            self._headline_in_listing = True
            self._deliveries.clear()
            self._after.clear()
            self._raw.clear()
            self._failures.clear()
            self.requests.clear()
            self._arrivals.clear()
            self._hangups.clear()
            self._version += 1

    # ---- faults

    def deliver(self, path: str, how: str) -> None:
        """Deliver responses to ``path`` faultily (one of :data:`DELIVERIES`)."""
        if how not in DELIVERIES:
            raise ValueError(f"unknown delivery {how!r}")
        with self._lock:
            self._deliveries[path] = how
            if how in (STALL, HANG, DRIP):
                self._gates.setdefault(path, threading.Event())

    def hold(self, path: str) -> None:
        """Answer requests to ``path`` only once :meth:`release` is called (a gate)."""
        self.deliver(path, HANG)

    def release(self, path: str | None = None) -> None:
        """Let held or stalled requests to ``path`` (or every path) complete."""
        with self._lock:
            paths = [path] if path is not None else list(self._gates)
            gates = [self._gates.pop(p) for p in paths if p in self._gates]
            for p in paths:
                if self._deliveries.get(p) in (STALL, HANG, DRIP):
                    del self._deliveries[p]
        for gate in gates:
            gate.set()

    def after_serving(self, path: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, right after the response to ``path`` is decided."""
        with self._lock:
            self._after[path] = action

    def page_bytes(self, path: str) -> bytes:
        """The body the site would serve at ``path`` now, without logging a request."""
        with self._lock:
            return self._generate(path, {}).body

    # ---- used by the handler

    def arrivals(self, path: str) -> list[float]:
        """When requests to ``path`` arrived (monotonic seconds), e.g. to check a backoff."""
        with self._lock:
            return [at for seen, at in self._arrivals if seen == path]

    def respond(self, method: str, target: str, headers: dict[str, str]) -> Any:
        response = super().respond(method, target, headers)
        with self._lock:
            self._arrivals.append((urlsplit(target).path, time.monotonic()))
            action = self._after.pop(urlsplit(target).path, None)
        if action is not None:
            action()
        return response

    def hangups(self, path: str) -> list[float]:
        """When clients gave up on a dripping ``path`` (monotonic seconds), one per request."""
        with self._lock:
            return [at for seen, at in self._hangups if seen == path]

    def hung_up(self, path: str) -> None:
        with self._lock:
            self._hangups.append((path, time.monotonic()))

    def delivery(self, path: str) -> tuple[str | None, threading.Event | None]:
        with self._lock:
            return self._deliveries.get(path), self._gates.get(path)


class _FaultServer(_Server):
    """The fixture server with the fault-aware handler, on a chosen port."""

    def __init__(self, site: FaultSite, port: int) -> None:
        self.site = site
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        ThreadingHTTPServer.__init__(self, (site.host, port), _FaultHandler)


class _FaultHandler(_Handler):
    server: _FaultServer

    def _serve(self, send_body: bool) -> None:
        site: FaultSite = self.server.site  # type: ignore[assignment]
        response = site.respond(self.command, self.path, dict(self.headers.items()))
        how, gate = site.delivery(urlsplit(self.path).path)
        if how == DRIP and gate is not None:
            self._drip(site, response.status, gate)
            return
        if how == HANG and gate is not None:
            gate.wait()
        self.send_response(response.status)
        body = response.body if send_body and response.status != 304 else b""
        for name, value in response.headers.items():
            if name.lower() == "content-length" and how in (TRUNCATE, UNSIZED):
                if how == UNSIZED:
                    continue
                value = str(2 * len(response.body) + 1)
            self.send_header(name, value)
        if how in (TRUNCATE, UNSIZED):
            self.send_header("Connection", "close")
        self.end_headers()
        if how == STALL and gate is not None:
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            gate.wait()
        else:
            self.wfile.write(body)
        if how in (TRUNCATE, UNSIZED):
            self.wfile.flush()
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _drip(self, site: FaultSite, status: int, gate: threading.Event) -> None:
        """A status line, then a header that never ends, one byte per ``site.drip_every``:
        every read succeeds well within any socket timeout, so only a total deadline ends
        it. Notes when the client hangs up (a write then fails)."""
        self.close_connection = True
        reason = self.responses.get(status, ("",))[0]
        try:
            self.wfile.write(f"HTTP/1.1 {status} {reason}\r\nX-Drip: ".encode("latin-1"))
            while not gate.wait(site.drip_every):
                self.wfile.write(b"z")
        except OSError:
            site.hung_up(urlsplit(self.path).path)


# --------------------------------------------------------------------------- sockets


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A 127.0.0.1 port bound but not listening: every connection attempt is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class Witness:
    """A listener on 127.0.0.2 ("another site") that never accepts: it only testifies.

    The kernel completes handshakes into the backlog without ``accept()``, so a crawler
    that followed a link here would connect (and then time out); :meth:`was_contacted`
    tells whether anything did.
    """

    def __init__(self, host: str = "127.0.0.2") -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the witness only listens on loopback addresses")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.base_url = f"http://{host}:{self.sock.getsockname()[1]}"

    def was_contacted(self) -> bool:
        try:
            connection, _ = self.sock.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Witness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- payloads


def gzip_bomb(size: int = 64 * 1024 * 1024) -> bytes:
    """``size`` bytes of zeros gzipped (~1/1000 of that on the wire)."""
    buffer = io.BytesIO()
    chunk = b"\0" * (1024 * 1024)
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as archive:
        for _ in range(size // len(chunk)):
            archive.write(chunk)
    return buffer.getvalue()


# --------------------------------------------------------------------------- crawl child


class LocalOnlyResolver(CachingThreadedResolver):
    """Resolves literal addresses and ``localhost`` only; every other name fails at once.

    Set in the crawl child with ``-s TWISTED_DNS_RESOLVER=fault_site.LocalOnlyResolver``:
    an unresolvable name then fails exactly as a real DNS failure does (DNSLookupError),
    and no query ever leaves the machine.
    """

    def getHostByName(self, name: str, timeout: Any = ()) -> Any:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if name != "localhost":
                return defer.fail(DNSLookupError(f"no address for {name} (local-only resolver)"))
        return super().getHostByName(name, timeout)
