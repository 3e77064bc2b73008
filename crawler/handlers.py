"""Scrapy's HTTP/1.1 download handler with a cap on the response's header block.

Scrapy caps a body (``DOWNLOAD_MAXSIZE``) and Twisted a header line (16 KiB), but nothing
caps the header block: a server sending header lines without end, as fast as they are
read, grew a crawl child to 3 GB within an 8 s ``DOWNLOAD_TIMEOUT`` (12 GB in the default
30 s). The parser here counts every status and header line and gives the response up
past :data:`MAX_HEADER_BYTES`, as the daemon's own requests do
(:mod:`topicwatch.daemon.http_fetch`): the download fails, is retried like a network
failure, and the run records why.

Scrapy itself swaps its lenient parser in by class (``_LenientHTTP11ClientProtocol``);
this extends those classes of Scrapy's and is wired in by ``DOWNLOAD_HANDLERS``.
"""

from __future__ import annotations

from typing import Any

from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    _LenientHTTP11ClientFactory,
    _LenientHTTP11ClientProtocol,
    _LenientHTTPClientParser,
)
from scrapy.crawler import Crawler

MAX_HEADER_BYTES = 64 * 1024


class HeaderBlockTooLarge(Exception):
    """The response's status line and headers passed :data:`MAX_HEADER_BYTES`."""


class _CappedParser(_LenientHTTPClientParser):
    header_bytes = 0  # the parser is swapped in by class: state starts at this default

    def lineReceived(self, line: bytes) -> None:
        self.header_bytes += len(line) + 2
        if self.header_bytes > MAX_HEADER_BYTES:
            raise HeaderBlockTooLarge(f"response headers over {MAX_HEADER_BYTES} bytes")
        super().lineReceived(line)


class _CappedProtocol(_LenientHTTP11ClientProtocol):
    def request(self, request: Any) -> Any:
        answer = super().request(request)
        assert self._parser is not None  # see _LenientHTTP11ClientProtocol.request
        self._parser.__class__ = _CappedParser
        return answer


class _CappedFactory(_LenientHTTP11ClientFactory):
    def buildProtocol(self, addr: Any) -> _CappedProtocol:
        return _CappedProtocol(self._quiescentCallback)  # type: ignore[no-untyped-call]


class CappedHTTP11DownloadHandler(HTTP11DownloadHandler):
    """HTTP11DownloadHandler whose connections parse with the header cap."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._pool._factory = _CappedFactory
