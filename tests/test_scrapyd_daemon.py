"""Scale-out through the daemon: ``executor = "scrapyd"`` topics on the session's nodes,
``topicwatch status`` showing the nodes, and a restarted daemon reattaching to its jobs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import child_env, scalar
from daemon_helpers import Daemon, GatedSite, query, runs, toml_value, wait_until, write_config
from scrapyd_nodes import running_nodes


@pytest.fixture
def gated() -> Iterator[GatedSite]:
    with GatedSite() as running:
        yield running


def cluster_config(
    path: Path, db: Path, url: str, nodes: list[Any], every: str = "1h", **scrapyd: Any
) -> Path:
    write_config(path, db, [{"name": "nato", "url": url, "executor": "scrapyd"}],
                 defaults={"every": every})  # fmt: skip
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
