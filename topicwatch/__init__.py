"""topicwatch: scheduled scraping and change-tracked archiving of news topic listings.

The distribution installs under this one import name. The product's layout keeps the
archive (``archive/``) and the Scrapy project (``crawler/``) at the top of the repository;
``topicwatch/archive`` and ``topicwatch/crawler`` are links to them, so the code imports
``topicwatch.archive`` and ``topicwatch.crawler`` from a checkout and from a wheel alike,
and installing topicwatch never claims generic names such as ``archive`` or ``crawler``.

Only constants live here: every part (the archive, the crawler, the daemon, the command
line) imports this module, so it must cost nothing.
"""

# The one place the version is written: pyproject.toml reads it from here, so a checkout,
# a wheel and a Scrapyd egg all report the same (package metadata read 0.0.0 from an egg,
# and reading it cost 30 ms of every command's start).
__version__ = "0.1.0"

PROJECT_URL = "https://github.com/topicwatch/topicwatch"
USER_AGENT = f"topicwatch/{__version__} (+{PROJECT_URL})"
DEFAULT_TOPIC_URL = "https://novaist.jp/articles/tag/nato/"
# No crawl reads further than this many listing pages unless -s TOPICWATCH_MAX_PAGES_HARD
# raises it: a broken "next" link must not page on for ever.
PAGE_CAP = 50
# Python's logging levels, the ones `--log-level` and `-s LOG_LEVEL` accept: anything else
# would crash the crawl inside Scrapy, after the archive file was made.
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
