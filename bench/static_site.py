"""A local copy of a topic listing as static files, served fast on 127.0.0.1.

The crawl benchmarks must measure the crawler, not the server, so pages are rendered
once into files (with the fixture site's real templates) and served by nginx when it is
installed (Debian: ``apt-get install nginx-light``), started here with a private config
and prefix under a temporary directory, on a free port, and stopped afterwards. Without
nginx a threaded Python static server stands in, and :attr:`StaticSite.server` says so.
Both answer conditional GETs with 304 (nginx: ETag and Last-Modified; Python:
Last-Modified only).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from fixture_site import (
    ROBOTS_TXT,
    Article,
    _listing_path,
    _ListingView,
    make_articles,
    render_article,
    render_listing,
)

TAG = "nato"
PER_PAGE = 20
NGINX_NOTE = "nginx (private config, 127.0.0.1)"
PYTHON_NOTE = "Python ThreadingHTTPServer (nginx not installed: the server may limit pages/s)"


@dataclass(frozen=True)
class StaticSite:
    """A running static site: its base URL, document root and which server serves it."""

    base_url: str
    root: Path
    server: str

    def topic_url(self, page: int = 1) -> str:
        return f"{self.base_url}{_listing_path(TAG, page)}"

    def write_listing(self, articles: list[Article], pages: int) -> None:
        """(Re)write ``pages`` listing pages of ``PER_PAGE`` articles, page N linking N+1."""
        write_listing(self.root, self.base_url, articles, pages)

    def write_articles(self, articles: list[Article]) -> None:
        write_articles(self.root, self.base_url, articles)


def write_listing(root: Path, base_url: str, articles: list[Article], pages: int) -> None:
    for page in range(1, pages + 1):
        chunk = articles[(page - 1) * PER_PAGE : page * PER_PAGE]
        view = _ListingView(base_url, TAG, chunk, page, pages, True)
        folder = root / _listing_path(TAG, page).strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        # Write then rename: a crawl reading meanwhile sees the old page or the new one.
        scratch = folder / "index.html.tmp"
        scratch.write_text(render_listing(view), encoding="utf-8")
        scratch.replace(folder / "index.html")


def write_articles(root: Path, base_url: str, articles: list[Article]) -> None:
    """Write each article's own page (what enrichment fetches for a new or edited item)."""
    for article in articles:
        folder = root / "articles" / article.slug
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(render_article(base_url, article), encoding="utf-8")


def listing_articles(pages: int, start: int = 1) -> list[Article]:
    """Distinct deterministic articles for ``pages`` full listing pages, newest first."""
    articles: list[Article] = make_articles(pages * PER_PAGE, start=start)
    return articles


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def static_site(folder: Path, pages: int) -> Iterator[StaticSite]:
    """Render ``pages`` listing pages under ``folder`` and serve them until the block ends."""
    root = folder / "www"
    root.mkdir(parents=True)
    # nginx started as root serves as "nobody": the (0700) temp dir must be traversable.
    folder.chmod(0o755)
    (root / "robots.txt").write_text(ROBOTS_TXT, encoding="utf-8")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    write_listing(root, base_url, listing_articles(pages), pages)
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )
    server = _nginx(nginx, folder, root, port) if nginx else _python(root, port)
    with server as kind:
        yield StaticSite(base_url, root, kind)


_NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    charset utf-8;
    access_log off;
    sendfile on;
    keepalive_timeout 30;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}
}}
"""


@contextlib.contextmanager
def _nginx(binary: str, folder: Path, root: Path, port: int) -> Iterator[str]:
    prefix = folder / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(prefix=prefix, port=port, root=root), encoding="utf-8")
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, process)
        yield NGINX_NOTE
    finally:
        process.terminate()  # nginx: SIGTERM is a fast shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _python(root: Path, port: int) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield PYTHON_NOTE
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Poll until the port accepts connections (bounded); fail if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")
