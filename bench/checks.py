"""What one scheduled check of a topic page costs: the floor, a process per check, and a
warm crawl worker; for an unchanged page and for a page with one new item.

The site is what WordPress tag pages usually are: ~20 cards a page and no validators (no
ETag, no Last-Modified), so every check downloads the whole page. It is served by a
separate process (so its CPU is never counted), one listing per topic. An unchanged
check meets the bytes it read last time; a changed check meets one new card on top (the
oldest drops off), whose article page it then reads.

* **Floor** (the baseline): plain Python in one long-lived process — ``urllib`` GET, lxml
  parse, XPath of the cards, which of them are known, a GET and parse of each new card's
  article, an SQLite upsert of the cards. No politeness, no history.
* **Process per check**: ``topicwatch crawl`` in its own child process, as the daemon
  runs each check without workers (``crawl_workers = 0``).
* **Warm worker**: ``python -m topicwatch.crawler.worker``, one long-lived process taking
  one order per check (``crawl_workers > 0``).

The figure is CPU time per check (user + system): ``time.process_time`` around each
floor check, ``RUSAGE_CHILDREN`` for the child processes, the worker's own ``/proc``
counters for it. Publishing the new card (rewriting files) is never counted.
"""

from __future__ import annotations

import functools
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from lxml import html as lxml_html

from bench.children import WarmWorker, child_env, setting_args
from bench.report import Row, log
from bench.static_site import listing_articles, write_articles

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from fixture_site import Article, _listing_path, _ListingView, make_articles, render_listing

TOPICS = 20
QUICK_TOPICS = 3
TARGET = 3.0  # × the floor, unchanged page, for the warm worker (at or below urlwatch)
TARGET_CHANGED = 5.0  # × the changed floor, one new item and its article
CHANGED = "changed check, one new item and its article"
SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "TOPICWATCH_ENRICH": "False",
    "ROBOTSTXT_OBEY": "False",
    "LOG_LEVEL": "WARNING",
}

NOTES = f"""\
{TOPICS} topic listings of 20 cards each, served without validators (no ETag or
Last-Modified, as WordPress tag pages usually are) by a separate Python process. An
unchanged check reads the page it read last time; a changed check (another {TOPICS} topics)
finds one new card on top, the oldest gone, and reads the new card's article page. Floor:
plain Python in one long-lived process (urllib GET, lxml parse, XPath of the cards, which
are known, GET and parse of each new card's article, an SQLite upsert). Process per check:
`topicwatch crawl` in its own child, as the daemon runs checks with `crawl_workers = 0`.
Warm worker: `python -m topicwatch.crawler.worker`, one order per check
(`crawl_workers > 0`), enrichment on for the changed topics only. CPU time per check
(user + system), median of rounds; robots.txt off for all (the floor reads none)."""

_SERVER = """
import sys, time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

DELAY = float(sys.argv[3])

class Handler(SimpleHTTPRequestHandler):
    def send_head(self):
        if DELAY and self.path.startswith("/articles/tag/"):
            time.sleep(DELAY)  # a slow listing: its runs stay in flight this long
        return super().send_head()
    def send_header(self, name, value):
        if name.lower() != "last-modified":  # no validators: every check reads the page
            super().send_header(name, value)
    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):
        pass  # a client gone mid-answer (a crawl worker killed by the soak)

handler = partial(Handler, directory=sys.argv[1])
server = Server((sys.argv[2], 0), handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def serve(
    root: Path, host: str = "127.0.0.1", delay: float = 0.0
) -> tuple[subprocess.Popen[str], str]:
    """A separate static server of ``root`` on ``host`` (loopback), without validators;
    ``delay``: seconds before each listing answer. Returns the process and the base URL."""
    root.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(root), host, str(delay)],
        stdout=subprocess.PIPE, text=True, env=child_env(),
    )  # fmt: skip
    assert server.stdout is not None
    port = server.stdout.readline().strip()
    if not port.isdigit():
        server.kill()
        raise RuntimeError(f"the static server on {host} did not start")
    return server, f"http://{host}:{port}"


@dataclass
class Topic:
    """One topic of the site: its listing URL and the articles it lists, newest first."""

    tag: str
    url: str
    articles: list[Article] = field(default_factory=list)


class Site:
    """The bench's static site under ``root``: topic listings and their articles' pages."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root, self.base_url = root, base_url
        self.published = 0

    def topics(self, prefix: str, count: int) -> list[Topic]:
        topics = []
        for number in range(1, count + 1):
            tag = f"{prefix}{number}"
            topic = Topic(tag, self.base_url + _listing_path(tag, 1))
            self.write(topic, listing_articles(1, start=number * 100))
            topics.append(topic)
        return topics

    def write(self, topic: Topic, articles: list[Article]) -> None:
        """(Re)write a topic's listing and its articles' pages; write then rename, so the
        server never serves half a page."""
        topic.articles = articles
        write_articles(self.root, self.base_url, articles)
        folder = self.root / _listing_path(topic.tag, 1).strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        view = _ListingView(self.base_url, topic.tag, articles, 1, 1, True)
        scratch = folder / "index.html.tmp"
        scratch.write_text(render_listing(view), encoding="utf-8")
        scratch.replace(folder / "index.html")

    def publish(self, topic: Topic) -> None:
        """One new card on top of the topic's listing; its oldest card drops off."""
        self.published += 1
        new = make_articles(1, start=1_000_000 + self.published)
        self.write(topic, new + topic.articles[:-1])


def run(quick: bool) -> list[Row]:
    count = QUICK_TOPICS if quick else TOPICS
    rounds = 2 if quick else 5
    checks = count if quick else 3 * count
    enriching = {**SETTINGS, "TOPICWATCH_ENRICH": "True"}
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        server, base_url = serve(base / "www")
        try:
            site = Site(base / "www", base_url)
            unchanged, changed = site.topics("t", count), site.topics("c", count)
            db, changing_db = base / "archive.db", base / "changing.db"
            for topic in unchanged:  # first crawls: every later check meets an unchanged page
                _crawl(topic.url, db, SETTINGS)
            for topic in changed:  # first crawls read every article: none is left pending
                _crawl(topic.url, changing_db, enriching)
            log(f"checks: {count} + {count} topics, {checks} checks a round, {rounds} rounds")
            urls = [topic.url for topic in unchanged]
            floor_db = base / "floor.db"
            _floor(urls, count, floor_db)  # warm-up, and its archive knows every card
            floor = [_floor(urls, checks, floor_db) for _ in range(rounds)]
            publish = [functools.partial(site.publish, topic) for topic in changed]
            changed_urls = [topic.url for topic in changed]
            worker = _worker(urls, checks, rounds, db, SETTINGS)
            changing = _worker(changed_urls, checks, rounds, changing_db, enriching, publish)
            # After the worker, whose archive must have seen every card but the new one.
            _floor(changed_urls, count, floor_db)
            changed_floor = [_floor(changed_urls, checks, floor_db, publish) for _ in range(rounds)]
            per_process = [_per_process(urls, max(3, checks // 10), db) for _ in range(rounds)]
        finally:
            server.terminate()
            server.wait(10)
    baseline, changed_baseline = statistics.median(floor), statistics.median(changed_floor)
    unchanged_what = "unchanged check, no validators"
    return [
        _row(f"{unchanged_what}: warm crawl worker", baseline, worker, TARGET),
        _row(f"{CHANGED}: warm crawl worker", changed_baseline, changing, TARGET_CHANGED),
        _row(f"{unchanged_what}: `topicwatch crawl`, a process per check", baseline,
             per_process, None),
    ]  # fmt: skip


def _row(what: str, baseline: float, figures: list[float], target: float | None) -> Row:
    seconds = statistics.median(figures)
    ratio = seconds / baseline
    floor = "changed floor" if what.startswith(CHANGED) else "floor"
    return Row(
        what=what,
        baseline=f"{floor} {baseline * 1000:.1f} ms CPU",
        measured=f"{seconds * 1000:.1f} ms CPU",
        ratio=ratio,
        target=f"≤ {target:g}×" if target else "–",
        met=ratio <= target if target else True,
    )


def _crawl(url: str, db: Path, settings: dict[str, str]) -> None:
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", url, "--db", str(db)]
    done = subprocess.run(
        [*command, "--json", *setting_args(settings)],
        capture_output=True, text=True, env=child_env(), timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"crawl of {url} exited {done.returncode}: {done.stderr[-500:]}")


def _floor(
    urls: list[str], checks: int, db_path: Path, publish: Sequence[Callable[[], None]] | None = None
) -> float:
    """CPU seconds per check of the plain-Python floor, in this process (``publish``: what
    changes each topic's page before its check, never counted)."""
    db = sqlite3.connect(db_path)
    db.execute(
        "CREATE TABLE IF NOT EXISTS cards (url TEXT PRIMARY KEY, headline TEXT, summary TEXT,"
        " seen INTEGER, title TEXT)"
    )
    spent = 0.0
    for check in range(checks):
        if publish:
            publish[check % len(urls)]()
        start = time.process_time()
        _plain_check(db, urls[check % len(urls)], check)
        spent += time.process_time() - start
    db.close()
    return spent / checks


def _plain_check(db: sqlite3.Connection, url: str, check: int) -> None:
    """One check in plain Python: the listing's cards, each new card's article title."""
    page = _page(url)
    cards = [
        (
            urljoin(url, "".join(card.xpath(".//a/@href")[:1])),
            card.findtext(".//h3") or "",
            card.findtext(".//p") or "",
            check,
        )
        for card in page.xpath("//article[contains(@class, 'p-card')]")
    ]
    marks = ",".join("?" * len(cards))
    links = [card[0] for card in cards]
    known = {row[0] for row in db.execute(f"SELECT url FROM cards WHERE url IN ({marks})", links)}
    titles = [(_page(link).findtext(".//h1") or "", link) for link in links if link not in known]
    with db:
        db.executemany(
            "INSERT INTO cards VALUES (?, ?, ?, ?, '') ON CONFLICT (url) DO UPDATE SET"
            " headline = excluded.headline, summary = excluded.summary, seen = excluded.seen",
            cards,
        )
        db.executemany("UPDATE cards SET title = ? WHERE url = ?", titles)


def _page(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return lxml_html.fromstring(response.read())


def _per_process(urls: list[str], checks: int, db: Path) -> float:
    """CPU seconds per check of ``topicwatch crawl`` children (start-up included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for check in range(checks):
        _crawl(urls[check % len(urls)], db, SETTINGS)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / checks


def _worker(
    urls: list[str],
    checks: int,
    rounds: int,
    db: Path,
    settings: dict[str, str],
    publish: Sequence[Callable[[], None]] | None = None,
) -> list[float]:
    """CPU seconds per check in one warm worker, a figure per round (after a warm-up);
    ``publish`` changes each topic's page before its check, as in :func:`_floor`."""
    with WarmWorker(db, settings) as worker:

        def one_round(count: int) -> None:
            for check in range(count):
                if publish:
                    publish[check % len(urls)]()
                answer = worker.check(urls[check % len(urls)])
                if answer.get("status") != "ok" or (publish and answer.get("items_new") != 1):
                    raise RuntimeError(f"worker check not as expected: {answer}")

        one_round(len(urls))  # warm-up: imports, engine, connections
        figures = []
        for _ in range(rounds):
            before = worker.cpu_seconds()
            one_round(checks)
            figures.append((worker.cpu_seconds() - before) / checks)
        return figures
