"""topicwatch: scheduled scraping and change-tracked archiving of news topic listings.

The distribution installs under this one import name. The product's layout keeps the
archive (``archive/``) and the Scrapy project (``crawler/``) at the top of the repository;
``topicwatch/archive`` and ``topicwatch/crawler`` are links to them, so the code imports
``topicwatch.archive`` and ``topicwatch.crawler`` from a checkout and from a wheel alike,
and installing topicwatch never claims generic names such as ``archive`` or ``crawler``.

Only constants live here: every part (the archive, the crawler, the daemon, the command
line) imports this module, so it must cost nothing.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("topicwatch")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.0.0"

PROJECT_URL = "https://github.com/topicwatch/topicwatch"
USER_AGENT = f"topicwatch/{__version__} (+{PROJECT_URL})"
DEFAULT_TOPIC_URL = "https://novaist.jp/articles/tag/nato/"
