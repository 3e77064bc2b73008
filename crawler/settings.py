"""Scrapy settings for topicwatch: politeness and limits, all through Scrapy's own knobs.

This is the one place the crawl process reads its environment (``TOPICWATCH_DB``).
The CLI and tests override values per run with ``Settings.setdict``.
"""

import os

from topicwatch import PAGE_CAP, USER_AGENT

BOT_NAME = "topicwatch"
SPIDER_MODULES = ["topicwatch.crawler.spiders"]
NEWSPIDER_MODULE = "topicwatch.crawler.spiders"

# The archive every crawl writes to (``--db`` / ``TOPICWATCH_DB`` / ./topicwatch.db).
TOPICWATCH_DB = os.environ.get("TOPICWATCH_DB", "topicwatch.db")
TOPICWATCH_DB_CREATE = True  # False: the archive must exist (a daemon's warm worker)
# "archive": commit each run to TOPICWATCH_DB; "feed": emit it into the crawl's feed for the
# daemon to commit (crawler.node_feed), never opening SQLite. A process Scrapyd started
# (it sets SCRAPY_PROJECT for every job) is a node's: feed, unless told otherwise.
TOPICWATCH_OUTPUT = "feed" if os.environ.get("SCRAPY_PROJECT") else "archive"
TOPICWATCH_TRIGGER = "manual"
TOPICWATCH_TOPIC = ""
TOPICWATCH_LOCK_WAIT = 0.0  # seconds to wait for another crawl of the same topic
# Hosts besides the topic's own origin a crawl may fetch from (``allow_hosts`` in the
# daemon's config; ``-s TOPICWATCH_ALLOW_HOSTS=cdn.example.jp,img.example.jp:8443``).
TOPICWATCH_ALLOW_HOSTS: list[str] = []

# Politeness: identify ourselves, obey robots.txt, one request at a time per site.
USER_AGENT = USER_AGENT
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 4
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # no listening sockets in an unattended crawl process
# A development-time lint that re-reads and parses each callback's source on every response
# (Scrapy's cache misses for bound methods): ~2.5 ms a listing page, half the extraction.
WARN_ON_GENERATOR_RETURN_VALUE = False
# Per-request work that tells us nothing, measured in a warm worker's check (docs/
# benchmarks.md, "checks"): the meta-copy lint (another development aid, run on every
# request a callback yields) and the downloader's byte counters (each request re-serialised
# to count it); the archive's run row is the record of a crawl, not Scrapy's stats.
SPIDER_MIDDLEWARES = {"scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None}
DOWNLOADER_STATS = False

# Limits: a listing page is tens of KB; a stuck server must not hold a run forever.
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
# The header block is capped too (crawler.handlers): endless headers grew a crawl to GBs.
DOWNLOAD_HANDLERS = {
    "http": "topicwatch.crawler.handlers.CappedHTTP11DownloadHandler",
    "https": "topicwatch.crawler.handlers.CappedHTTP11DownloadHandler",
}
TOPICWATCH_MAX_PAGES_HARD = PAGE_CAP  # even --pages cannot page further (broken "next" links)

# Retries for 429/5xx/timeouts, with backoff and Retry-After (crawler.middlewares).
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 30.0
RETRY_AFTER_MAX = 120.0
DOWNLOADER_MIDDLEWARES = {
    # First: a run already on record (its timeout struck) fetches nothing more.
    "topicwatch.crawler.middlewares.FinishedRunMiddleware": 30,
    # Before robots.txt: no off-site fetch at all.
    "topicwatch.crawler.middlewares.SiteOnlyMiddleware": 40,
    # After DownloadTimeoutMiddleware (350): an article request's timeout is the budget left.
    "topicwatch.crawler.enrichment.EnrichmentBudgetMiddleware": 360,
    # SiteOnlyMiddleware is the one offsite guard: stricter (origin, not host suffix), and
    # it honours TOPICWATCH_ALLOW_HOSTS, which Scrapy's (allowed_domains) cannot know.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "topicwatch.crawler.middlewares.BackoffRetryMiddleware": 550,
}

# Enrichment (article pages of new, edited and pending items) is best-effort: a per-run
# count and time budget, a short timeout and no retry per page (crawler.enrichment).
TOPICWATCH_ENRICH = True
TOPICWATCH_ENRICH_MAX = 20
TOPICWATCH_ENRICH_BUDGET = 60.0
TOPICWATCH_ARTICLE_TIMEOUT = 15.0

# A warm crawl worker (crawler.worker): an order's run timeout when the order names none,
# and when the worker asks to be replaced (runs done, resident memory in MiB).
TOPICWATCH_RUN_TIMEOUT = 600.0
TOPICWATCH_WORKER_MAX_RUNS = 10_000
TOPICWATCH_WORKER_MAX_RSS_MB = 512.0

ITEM_PIPELINES = {
    "topicwatch.crawler.pipelines.ArchivePipeline": 300,
    "topicwatch.crawler.node_feed.FeedPipeline": 310,  # only with TOPICWATCH_OUTPUT = feed
}
# Topic runs: the lock, the run's row, the archive's memory, and closing what a shutdown
# leaves (crawler.extensions); the pipeline commits each run.
EXTENSIONS = {
    "topicwatch.crawler.extensions.ArchiveRuns": 500,
    "topicwatch.crawler.node_feed.FeedRuns": 510,  # only with TOPICWATCH_OUTPUT = feed
    # Off unless `topicwatch crawl` runs on a terminal (crawler.progress).
    "topicwatch.crawler.progress.CrawlProgress": 600,
}
TOPICWATCH_PROGRESS = False

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
