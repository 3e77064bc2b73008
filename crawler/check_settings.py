"""Check Scrapy setting overrides as a crawl would read them, for a process without Scrapy.

The daemon hands its config's ``[settings]`` to every crawl as ``-s NAME=VALUE``; a value
of the wrong type would fail each run deep inside Scrapy. The daemon never imports
Scrapy, so ``topicwatch daemon`` asks this module, in a short-lived child, at start:
``python -m topicwatch.crawler.check_settings`` reads a JSON object on stdin and exits 0,
or 2 with a one-line message.
"""

from __future__ import annotations

import json
import sys

from scrapy.exceptions import UsageError
from scrapy.settings import Settings

from topicwatch.crawler.run import check_overrides


def main() -> int:
    overrides = json.load(sys.stdin)
    settings = Settings()
    settings.setmodule("topicwatch.crawler.settings", priority="project")
    try:
        check_overrides(settings, overrides)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
