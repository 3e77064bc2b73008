"""Scale-out through the daemon: ``executor = "scrapyd"`` topics on the session's nodes,
``topicwatch status`` showing the nodes, and a restarted daemon reattaching to its jobs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import child_env, scalar
from daemon_helpers import Daemon, GatedSite, query, runs, toml_value, wait_until, write_config
from fault_site import FaultSite
from fixture_site import make_articles
from scrapyd_nodes import running_nodes

DEADLINE = 90.0


@pytest.fixture
def gated() -> Iterator[GatedSite]:
    with GatedSite() as running:
        yield running


def cluster_config(
    path: Path, db: Path, url: str, nodes: list[Any], every: str = "1h", **scrapyd: Any
) -> Path:
    write_config(path, db, [{"name": "nato", "url": url, "executor": "scrapyd"}],
                 defaults={"every": every})  # fmt: skip
    return add_scrapyd(path, nodes, **scrapyd)


def add_scrapyd(path: Path, nodes: list[Any], **scrapyd: Any) -> Path:
    """The config at ``path`` with a [scrapyd] section for ``nodes`` (a fast poll)."""
    section = {"nodes": [n.url for n in nodes], "poll": 0.2, **scrapyd}
    with path.open("a", encoding="utf-8") as config:
        config.write("[scrapyd]\n")
        config.write("".join(f"{k} = {toml_value(v)}\n" for k, v in section.items()))
    return path


def status(db: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topicwatch", "status", "--db", str(db), *options],
        capture_output=True, text=True, env=child_env(), timeout=60,
    )  # fmt: skip


def test_the_daemon_dispatches_a_scrapyd_topic_and_status_shows_the_nodes(
    scrapyd_nodes, site, db, tmp_path
):
    config = cluster_config(tmp_path / "tw.toml", db, site.topic_url(), scrapyd_nodes)
    with Daemon(config) as daemon:
        wait_until(lambda: runs(db, status="ok"), 60, "a dispatched run")
        wait_until(lambda: len(query(db, "select url from scrapyd_nodes")) == 2, 30, "nodes")
        shown = status(db)
        report = json.loads(status(db, "--json").stdout)
        assert daemon.stop() == 0, daemon.output
    assert [r["status"] for r in runs(db)] == ["ok"]
    assert scalar(db, "select state from scrapyd_jobs") == "committed"
    assert scalar(db, "select items_new from crawl_runs") == 20
    for node in scrapyd_nodes:
        assert f"scrapyd node {node.url}: reachable" in shown.stdout, shown.stdout
    assert {n["url"] for n in report["nodes"]} == {n.url for n in scrapyd_nodes}


def test_a_restarted_daemon_reattaches_to_its_running_job(scrapyd_nodes, gated, db, tmp_path):
    config = cluster_config(tmp_path / "tw.toml", db, gated.topic_url(), scrapyd_nodes)
    gated.gate.clear()  # the node's crawl waits on the site
    with Daemon(config) as first:
        wait_until(lambda: query(db, "select job from scrapyd_jobs"), 60, "a dispatched job")
        assert first.stop() == 0, first.output
    assert [r["status"] for r in runs(db)] == ["running"]  # not aborted: the job runs on
    with Daemon(config) as second:
        second.wait_for_output("reattached to 1 Scrapyd job(s)", 30)
        gated.gate.set()
        try:
            wait_until(lambda: runs(db, status="ok"), 60, "the reattached run committed")
        except AssertionError as error:
            jobs = query(db, "select * from scrapyd_jobs")
            raise AssertionError(f"{error}\n{first.output}\n{second.output}\n{jobs}") from None
        second.wait_for_output("nato: ok run 1: 1 pages, 20 seen, 20 new", 30)  # counted
        assert "nato: ok run 2" not in second.output  # no second crawl while job 1 ran
        assert second.stop() == 0, second.output
    first_run = runs(db)[0]
    assert first_run["status"] == "ok"
    assert runs(db, status="aborted") == []
    assert query(db, "select state from scrapyd_jobs where run_id = ?", (first_run["id"],)) == [
        ("committed",)
    ]


def test_wrong_credentials_are_one_clear_line_in_status(scrapyd_egg, site, db, tmp_path):
    with running_nodes(tmp_path / "nodes", scrapyd_egg, count=1, username="tw",
                       password="right") as [node]:  # fmt: skip
        config = cluster_config(tmp_path / "tw.toml", db, site.topic_url(), [node],
                                username="tw", password_env="TW_SCRAPYD_PASSWORD")  # fmt: skip
        with Daemon(config, env={"TW_SCRAPYD_PASSWORD": "Zq9-bad"}) as daemon:
            wait_until(lambda: runs(db, status="failed"), 60, "the run refused")
            wait_until(lambda: query(db, "select last_error from scrapyd_nodes"), 30, "checked")
            shown = status(db).stdout
            assert daemon.stop() == 0, daemon.output
    line = (
        f"scrapyd node {node.url}: NOT USABLE: 401 Unauthorized:"
        " the node refused the [scrapyd] credentials"
    )
    assert line in shown, shown
    assert "Zq9-bad" not in shown and "Zq9-bad" not in daemon.output
    assert "credentials" in (runs(db)[0]["error"] or "")


def test_a_topic_whose_memory_outgrew_the_limit_is_crawled_here(scrapyd_nodes, site, db, tmp_path):
    # The first run ships an empty memory; the second would ship 20 items' (~1.4 KiB).
    site.conditional = False  # no validators: no 304 check stands in for the second crawl
    config = cluster_config(tmp_path / "tw.toml", db, site.topic_url(), scrapyd_nodes,
                            every="2s", max_memory=1024)  # fmt: skip
    with Daemon(config) as daemon:
        wait_until(lambda: len(runs(db, status="ok")) >= 2, 60, "two runs")
        assert daemon.stop() == 0, daemon.output
    first, second = runs(db)[:2]
    assert "over the 1 KiB a spider argument may carry: crawling it here" in daemon.output
    dispatched = {run for (run,) in query(db, "select run_id from scrapyd_jobs")}
    assert first["id"] in dispatched and second["id"] not in dispatched
    assert second["status"] == "ok" and second["pid"] != daemon.pid  # a local crawl child


def one_site_queued(
    db: Path,
    tmp_path: Path,
    nodes: list[Any],
    extra: dict[str, dict[str, Any]] | None = None,
    **scrapyd: Any,
) -> tuple[Daemon, dict[str, dict[str, Any]]]:
    """A daemon whose Scrapyd topics fr and uk fall due together while a local check of
    their site holds its one slot; released once both wait for it. Returns the stopped
    daemon and each topic's run. ``extra``: more keys for fr and uk, by name."""
    extra = extra or {}
    with FaultSite() as site:
        site.set_listing("uk", make_articles(20, start=300))
        site.set_listing("fr", make_articles(20, start=600))
        site.hold("/articles/tag/nato/")
        entries = [
            # Due with the others and first by name (the job store's tie-break): it takes
            # the site's one slot and holds it while fr and uk queue behind it.
            {"name": "a-held", "url": site.topic_url("nato")},
            {
                "name": "fr",
                "url": site.topic_url("fr"),
                "executor": "scrapyd",
                **extra.get("fr", {}),
            },
            {
                "name": "uk",
                "url": site.topic_url("uk"),
                "executor": "scrapyd",
                **extra.get("uk", {}),
            },
        ]
        config = write_config(tmp_path / "tw.toml", db, entries, defaults={"every": "1h"},
                              settings={"TOPICWATCH_ENRICH": "false"}, crawl_workers=0,
                              concurrency=2, per_site=1)  # fmt: skip
        add_scrapyd(config, nodes, **scrapyd)
        with Daemon(config) as daemon:
            wait_until(lambda: runs(db, "a-held", "running"), DEADLINE, "the site held")
            waiting = "select count(*) from daemon_topics where waiting_since is not null"
            wait_until(lambda: query(db, waiting) == [(2,)], DEADLINE, "fr and uk waiting")
            site.release()
            wait_until(lambda: len(runs(db, status="ok")) == 3, DEADLINE, "three ok runs")
            daemon.wait_for_output("uk: ok run", DEADLINE)
            assert daemon.stop() == 0, daemon.output
    (held,) = runs(db, "a-held")
    (fr,), (uk,) = runs(db, "fr"), runs(db, "uk")
    assert held["finished"] <= fr["started"]  # never two crawls of the site at once
    changes = "select run_id, count(*) from changes where kind = 'new' group by run_id"
    assert sorted(query(db, changes)) == [(held["id"], 20), (fr["id"], 20), (uk["id"], 20)]
    assert fr["pid"] == uk["pid"] == daemon.pid  # committed here, from the jobs' feeds
    return daemon, {"a-held": held, "fr": fr, "uk": uk}


def test_due_topics_of_one_site_go_out_as_one_job_each_its_own_run(scrapyd_nodes, db, tmp_path):
    """[scrapyd] batch: two Scrapyd topics of one site, due together and waiting for the
    site's slot, go out as one node job (one start-up), one crawl of the site in its
    per_site count, and come back as two runs, each committed on its own."""
    daemon, ran = one_site_queued(db, tmp_path, scrapyd_nodes)
    assert "fr: one Scrapyd job with uk (one site)" in daemon.output
    jobs = query(db, "select job, run_id, state from scrapyd_jobs order by run_id")
    assert [(run, state) for _, run, state in jobs] == [
        (ran["fr"]["id"], "committed"),
        (ran["uk"]["id"], "committed"),
    ]
    assert len({job for job, _, _ in jobs}) == 1  # one job carried both


def test_a_batch_over_max_memory_sends_what_fits_and_the_rest_after(scrapyd_nodes, db, tmp_path):
    """Each topic's order fits in max_memory, the two together do not: fr's job goes
    alone, and uk, taken along, runs its own check next in the same slot (never at the
    same time: one crawl of the site at a time), as a job of its own."""
    rng = random.Random(16)
    # ~1.9 KiB encoded per order (random host names barely compress), ~3.6 KiB for two.
    extra = {
        name: {"allow_hosts": [f"{rng.getrandbits(48):012x}.invalid" for _ in range(150)]}
        for name in ("fr", "uk")
    }
    daemon, ran = one_site_queued(db, tmp_path, scrapyd_nodes, extra, max_memory=2800)
    assert "fr: one Scrapyd job with uk (one site)" in daemon.output
    assert "uk leaves the batch" in daemon.output
    assert "crawling it here" not in daemon.output
    jobs = query(db, "select job, run_id, state from scrapyd_jobs order by run_id")
    assert [(run, state) for _, run, state in jobs] == [
        (ran["fr"]["id"], "committed"),
        (ran["uk"]["id"], "committed"),
    ]
    assert len({job for job, _, _ in jobs}) == 2  # a job each
    assert ran["fr"]["finished"] <= ran["uk"]["started"]
