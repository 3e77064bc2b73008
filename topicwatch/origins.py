"""Where a topic's crawl may fetch from: the topic's own origin, and the hosts it lists.

A redirect to the same host on another port reaches another service (a cloud metadata
endpoint, Redis, an admin panel), and a subdomain may be anyone's (a customer's blog, a
hosted shop); neither is the topic's site, yet a host-name check lets both through. So a
crawl fetches only from the topic's origin, scheme, host and port, plus:

- the same with or without ``www.`` (``example.jp`` and ``www.example.jp`` are one site);
- an ``http://`` topic's upgrade to ``https://`` on the default ports (80 to 443);
- the hosts the topic's config lists in ``allow_hosts``: ``cdn.example.jp`` allows that
  host on the default ports (http 80, https 443), ``cdn.example.jp:8443`` that port.

Standard library only: the daemon validates ``allow_hosts`` with it, without Scrapy.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def host_entry(entry: str) -> tuple[str, int | None]:
    """``"cdn.example.jp"`` → (host, None); ``"cdn.example.jp:8443"`` → (host, 8443).

    Raises ValueError with a one-line reason for anything else: a URL, a path, a
    wildcard, credentials, an empty string or a bad port.
    """
    text = entry.strip().lower()
    if not text or any(mark in text for mark in "/@*?#\\ "):
        raise ValueError(f"{entry!r} is not a host name (give a host, e.g. 'cdn.example.jp')")
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"{entry!r} has a bad port")
    host = parts.hostname
    if not host or parts.netloc != text:
        raise ValueError(f"{entry!r} is not a host name (give a host, e.g. 'cdn.example.jp')")
    return _ascii(host), port


def host_entries(entries: Iterable[str]) -> tuple[str, ...]:
    """Validate a list of ``allow_hosts`` entries; return them normalised (lower case)."""
    normal = []
    for entry in entries:
        host, port = host_entry(entry)
        shown = f"[{host}]" if ":" in host else host
        normal.append(f"{shown}:{port}" if port is not None else shown)
    return tuple(normal)


class Origins:
    """The origins a topic's crawl may fetch from (see the module docstring)."""

    def __init__(self, topic_url: str, allow_hosts: Iterable[str] = ()) -> None:
        scheme, host, port = _origin(topic_url) or ("", "", 0)
        twin = host.removeprefix("www.") if host.startswith("www.") else f"www.{host}"
        self._allowed = {(scheme, name, port) for name in (host, twin) if host}
        if (scheme, port) == ("http", 80):
            self._allowed |= {("https", name, 443) for name in (host, twin) if host}
        for entry in allow_hosts:
            listed, listed_port = host_entry(entry)
            for listed_scheme, default_port in DEFAULT_PORTS.items():
                self._allowed.add((listed_scheme, listed, listed_port or default_port))

    def permit(self, url: str) -> bool:
        """Whether ``url`` is on one of the allowed origins."""
        return _origin(url) in self._allowed


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, _ascii(parts.hostname), port or DEFAULT_PORTS[scheme]


def _ascii(host: str) -> str:
    """The host as requests carry it: lower case, internationalised names in punycode."""
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def site_of(url: str) -> str:
    """The site a politeness limit counts crawls of: the host, ``www.`` folded, any port.

    Scrapy keys its download delay and per-domain limit by host name, so the daemon
    counts the same thing across its crawl workers. An unreadable URL is its own site.
    """
    origin = _origin(url)
    return origin[1].removeprefix("www.") if origin else url
