"""The benchmarks' quick mode runs, so the bench cannot rot (it asserts nothing on speed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import child_env


def test_quick_benchmarks_print_their_tables():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-write", "--only",
         "startup,extraction,snapshots,crawl,recrawl,ingest,search"],
        cwd=Path(__file__).parents[1], env=child_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "## Analysts' commands: time to answer" in done.stdout
    assert "## Extraction per 20-item page" in done.stdout
    assert "compression: gzip -6 (chosen)" in done.stdout
    assert "## Crawl throughput against a download-only spider" in done.stdout
    assert "## Unchanged re-crawl (304 path) against a changed one" in done.stdout
    assert "## Archive writes: new items and unchanged re-sightings" in done.stdout
    assert "## Search and changes on a year-sized archive" in done.stdout


def test_quick_checks_bench_prints_unchanged_and_changed_rows():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-write", "--only", "checks"],
        cwd=Path(__file__).parents[1], env=child_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "## What a scheduled check costs: floor, process, warm worker" in done.stdout
    assert "| unchanged check, no validators: warm crawl worker | floor " in done.stdout
    assert "| changed check, one new item and its article: warm crawl worker |" in done.stdout
    assert "| ≤ 3× |" in done.stdout and "| ≤ 5× |" in done.stdout
