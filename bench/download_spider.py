"""The crawl benchmark's baseline: a spider that only downloads and follows rel=next.

Run as a child process exactly like ``topicwatch crawl`` (one reactor per process), with
the same settings module and ``-s`` overrides, minus the archive pipeline: what is left
is Scrapy's own cost per page (scheduler, downloader, middlewares, robots.txt) and the
server's. It prints one JSON object: pages read and the seconds from ``crawl()`` to the
reactor stopping, timed the same way :func:`crawler.run.crawl` times a crawl.

    python -m bench.download_spider --url URL --pages 200 -s DOWNLOAD_DELAY=0
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response
from scrapy.settings import Settings


class DownloadOnlySpider(scrapy.Spider):
    """Fetch a listing page, then the page its ``<link rel=next>`` names, up to ``pages``."""

    name = "download-only"

    def __init__(self, url: str, pages: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url = url
        self.pages = int(pages)
        self.read = 0

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.url, dont_filter=True, meta={"page": 1})

    def parse(self, response: Response, **kwargs: Any) -> Iterator[scrapy.Request]:
        self.read += 1
        page = response.meta["page"]
        next_url = response.xpath("//link[@rel='next']/@href").get()
        if next_url and page < self.pages:
            yield scrapy.Request(next_url, dont_filter=True, meta={"page": page + 1})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.download_spider")
    parser.add_argument("--url", required=True)
    parser.add_argument("--pages", type=int, required=True)
    parser.add_argument("-s", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    settings = Settings()
    settings.setmodule("topicwatch.crawler.settings", priority="project")
    settings.setdict(dict(pair.split("=", 1) for pair in args.overrides), priority="cmdline")
    settings.set("ITEM_PIPELINES", {}, priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(DownloadOnlySpider)
    started = time.monotonic()
    process.crawl(crawler, url=args.url, pages=args.pages)
    process.start()
    seconds = time.monotonic() - started
    spider: Any = crawler.spider
    print(json.dumps({"pages": spider.read, "duration": seconds}))


if __name__ == "__main__":
    main()
