"""The benchmarks' quick mode runs, so the bench cannot rot (it asserts nothing on speed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import child_env


def test_quick_benchmarks_print_their_tables():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-write", "--only", "extraction,snapshots"],
        cwd=Path(__file__).parents[1], env=child_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "## Extraction per 20-item page" in done.stdout
    assert "compression: gzip -6 (chosen)" in done.stdout
