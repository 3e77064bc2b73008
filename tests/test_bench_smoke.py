"""The benchmarks' quick mode runs, so the bench cannot rot (it asserts nothing on speed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import child_env


def quick_bench(only: str) -> str:
    """``python -m bench --quick --no-write --only ONLY``: its printed tables."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-write", "--only", only],
        cwd=Path(__file__).parents[1], env=child_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_quick_benchmarks_print_their_tables():
    out = quick_bench("startup,extraction,snapshots,crawl,recrawl,ingest,search")
    assert "## Analysts' commands: time to answer" in out
    assert "## Extraction per 20-item page" in out
    assert "compression: gzip -6 (chosen)" in out
    assert "## Crawl throughput against a download-only spider" in out
    assert "## Unchanged re-crawl (304 path) against a changed one" in out
    assert "## Archive writes: new items and unchanged re-sightings" in out
    assert "## Search and changes on a year-sized archive" in out


def test_quick_checks_bench_prints_unchanged_and_changed_rows():
    out = quick_bench("checks")
    assert "## What a scheduled check costs: floor, process, warm worker" in out
    assert "| unchanged check, no validators: warm crawl worker | floor " in out
    assert "| changed check, one new item and its article: warm crawl worker |" in out
    assert "| ≤ 3× |" in out and "| ≤ 5× |" in out


def test_quick_soak_kills_a_worker_mid_crawl_and_loses_no_run():
    out = quick_bench("soak")
    assert "## Daemon soak" in out
    lines = out.splitlines()
    for row in ("| SIGKILL of the worker running a crawl, 1 times |",
                "| runs without an outcome after the stop |"):  # fmt: skip
        (line,) = [line for line in lines if line.startswith(row)]
        assert line.endswith("| yes |"), line


def test_quick_fleet_bench_runs_the_daemon_against_the_site():
    out = quick_bench("fleet")
    assert "## 1,000 topics every 15 minutes" in out
    assert "| run start after its due time, 80 runs due (40 topics every 15 s, 8 hosts) |" in out
    assert "| runs started vs due (" in out and "| 80 due |" in out
    assert "| ≤ 10% of a core |" in out and "| ≤ 400 MiB |" in out
