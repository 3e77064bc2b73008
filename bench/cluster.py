"""Scale-out: N topics dispatched over two local Scrapyd nodes against the same N topics
crawled locally (``topicwatch crawl``, a process per run), in one run.

Both sides crawl the same static site (served by a separate process, so its CPU is never
counted) into fresh archives: every run is a first crawl of 20 new cards, robots.txt and
enrichment off. Figures: wall time per run (the overhead of a dispatched run: scheduling,
Scrapyd's poll, the job's start, the feed's fetch and the commit here), CPU per node job
(the crawl processes Scrapyd ran: its children's ``cutime + cstime`` in ``/proc``), the
daemon's own CPU per dispatched run, and N runs at once over the two nodes.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.checks import Site, serve
from bench.children import topicwatch_crawl
from bench.report import Row, log

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
import conftest  # noqa: F401  (scrapyd_nodes imports it; conftest imports scrapyd_nodes)
from scrapyd_nodes import build_egg, running_nodes

from topicwatch.daemon.cluster_config import NodeConfig, ScrapydConfig
from topicwatch.daemon.config import TopicConfig
from topicwatch.daemon.scrapyd import Cluster

SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "TOPICWATCH_ENRICH": "False",
    "ROBOTSTXT_OBEY": "False",
    "LOG_LEVEL": "WARNING",
}

NOTES = """\
N topic listings of 20 cards (static files served by a separate process), each crawled
once into a fresh archive locally (`topicwatch crawl`, a process per run, as the daemon
without workers) and once dispatched to one of two local Scrapyd 1.6 nodes
(`poll_interval` 0.5, daemon poll 0.2 s) and committed by the daemon's side
(topicwatch.daemon.scrapyd), one at a time, then all N at once (2 jobs per node), then
all N in one job (`[scrapyd] batch`: every listing is on the one site).
Robots.txt and enrichment off. CPU per node job: Scrapyd's reaped children (`cutime +
cstime` in /proc). Both nodes and the local crawls share this machine, so the figures are
per-run costs, not a speed-up from more machines."""


def run(quick: bool) -> list[Row]:
    topics = 4 if quick else 10
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        server, base_url = serve(base / "www")
        site = Site(base / "www", base_url)
        urls = [topic.url for topic in site.topics("t", topics)]
        try:
            egg = build_egg(base / "egg")
            with running_nodes(base / "nodes", egg) as nodes:
                log(f"cluster: {topics} topics, local then dispatched over 2 nodes")
                local_wall, local_cpu = _local(urls, base / "local.db")
                pids = [node.process.pid for node in nodes if node.process]
                before = sum(_reaped_cpu(pid) for pid in pids)
                cluster = _cluster([node.url for node in nodes], base / "remote.db")
                wall, daemon_cpu = _dispatched(cluster, urls)
                node_cpu = (sum(_reaped_cpu(pid) for pid in pids) - before) / topics
                together = _all_at_once(_cluster([n.url for n in nodes], base / "b.db"), urls)
                before = sum(_reaped_cpu(pid) for pid in pids)
                batch_wall = _one_job(_cluster([n.url for n in nodes], base / "c.db"), urls)
                batch_cpu = (sum(_reaped_cpu(pid) for pid in pids) - before) / topics
        finally:
            server.terminate()
            server.wait(10)
    local_total = local_wall * topics
    return [
        Row(f"dispatched run, wall time ({topics} topics, one at a time)",
            f"local {local_wall:.2f} s", f"{wall:.2f} s (+{(wall - local_wall) * 1000:.0f} ms)",
            wall / local_wall, "–", True),
        Row("CPU per node job (Scrapyd's crawl process)", f"local {local_cpu * 1000:.0f} ms",
            f"{node_cpu * 1000:.0f} ms", node_cpu / local_cpu, "–", True),
        Row("daemon CPU per dispatched run (dispatch, poll, fetch, commit)",
            f"local {local_cpu * 1000:.0f} ms", f"{daemon_cpu * 1000:.0f} ms",
            daemon_cpu / local_cpu, "–", True),
        Row(f"{topics} runs at once over 2 nodes (2 jobs each), wall",
            f"local one at a time {local_total:.1f} s", f"{together:.1f} s",
            together / local_total, "–", True),
        Row(f"{topics} topics of one site in one job (batch), node CPU per run",
            f"a job each {node_cpu * 1000:.0f} ms",
            f"{batch_cpu * 1000:.0f} ms ({batch_wall:.1f} s wall for all)",
            batch_cpu / node_cpu, "–", True),
    ]  # fmt: skip


def _cluster(nodes: list[str], db: Path) -> Cluster:
    config = ScrapydConfig(
        nodes=tuple(NodeConfig(url, 2) for url in nodes), poll=0.2, per_site=len(nodes) * 2
    )
    return Cluster(config, db, dict(SETTINGS), threading.Event())


def _topic(number: int, url: str) -> TopicConfig:
    return TopicConfig(name=f"t{number}", url=url, timeout=120.0, executor="scrapyd")


def _local(urls: list[str], db: Path) -> tuple[float, float]:
    """Median wall seconds per run, and CPU seconds per run, of ``topicwatch crawl``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    walls = []
    for url in urls:
        start = time.monotonic()
        topicwatch_crawl(url, db, SETTINGS)
        walls.append(time.monotonic() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return statistics.median(walls), cpu / len(urls)


def _dispatched(cluster: Cluster, urls: list[str]) -> tuple[float, float]:
    """Median wall seconds per dispatched run, and this process's CPU per run."""
    walls = []
    cpu = time.process_time()
    for number, url in enumerate(urls, start=1):
        start = time.monotonic()
        result = cluster.crawl(_topic(number, url), datetime.now(UTC), time.monotonic() + 120)
        if result is None or result.status != "ok":
            raise RuntimeError(f"dispatched run of {url} was not ok: {result}")
        walls.append(time.monotonic() - start)
    return statistics.median(walls), (time.process_time() - cpu) / len(urls)


def _all_at_once(cluster: Cluster, urls: list[str]) -> float:
    """Wall seconds for every topic dispatched at once."""
    results: list[object] = []

    def one(number: int, url: str) -> None:
        results.append(
            cluster.crawl(_topic(number, url), datetime.now(UTC), time.monotonic() + 300)
        )

    threads = [threading.Thread(target=one, args=(n, u)) for n, u in enumerate(urls, start=1)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    seconds = time.monotonic() - start
    if len(results) != len(urls) or not all(getattr(r, "status", "") == "ok" for r in results):
        raise RuntimeError(f"not every dispatched run was ok: {results}")
    return seconds


def _one_job(cluster: Cluster, urls: list[str]) -> float:
    """Wall seconds for every topic in one job (a batch of one site's topics)."""
    topics = [_topic(number, url) for number, url in enumerate(urls, start=1)]
    start = time.monotonic()
    results = cluster.crawl_batch(topics, datetime.now(UTC), time.monotonic() + 300)
    seconds = time.monotonic() - start
    if results is None or not all(result.status == "ok" for result in results):
        raise RuntimeError(f"not every run of the batch was ok: {results}")
    return seconds


def _reaped_cpu(pid: int) -> float:
    """CPU seconds of the children ``pid`` has waited for (/proc/PID/stat cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
