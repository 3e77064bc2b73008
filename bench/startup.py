"""How long an analyst waits for a command to answer, against sqlite-utils' own CLI.

Analysts' commands are short: most of their wall time is the interpreter starting and
importing. Each command below runs as its own process, as a shell runs it, interleaved
with the baseline (``sqlite-utils --help``, a click CLI over the same library) so both see
the same machine load; the figure is the median wall time.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.children import child_env
from bench.report import Row, log
from topicwatch.archive import open_archive
from topicwatch.archive.changes import Sighting
from topicwatch.archive.runs import begin_run
from topicwatch.archive.store import PageResult, RunReport, commit_run

TARGET = 0.25  # seconds, wall

NOTES = """\
Each command runs as its own process (`topicwatch` and `sqlite-utils` console scripts of
the bench's environment), interleaved with the baseline so that both meet the same load;
median wall time. The archive is a small one (one run, 20 items). Analysts' commands
never import Scrapy, Twisted or lxml (tests/test_layering.py checks it in a real
process): what is left is Python, click and sqlite-utils."""


def run(quick: bool) -> list[Row]:
    rounds = 3 if quick else 15
    scripts = Path(sys.executable).parent
    topicwatch, sqlite_utils = scripts / "topicwatch", scripts / "sqlite-utils"
    if not topicwatch.exists() or not sqlite_utils.exists():
        found = shutil.which("topicwatch"), shutil.which("sqlite-utils")
        if not all(found):
            log("startup: topicwatch or sqlite-utils console script not found; skipped")
            return []
        topicwatch, sqlite_utils = (Path(p) for p in found if p)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "small.db"
        _small_archive(db)
        commands = {
            "baseline": [str(sqlite_utils), "--help"],
            "topicwatch search --help": [str(topicwatch), "search", "--help"],
            "topicwatch changes --since 1d": [
                str(topicwatch), "changes", "--since", "1d", "--db", str(db),
            ],
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, command in commands.items():
                times[name].append(_wall(command))
    baseline = statistics.median(times.pop("baseline"))
    rows = []
    for name, measured in times.items():
        median = statistics.median(measured)
        rows.append(
            Row(
                what=f"`{name}`",
                baseline=f"`sqlite-utils --help` {baseline:.2f} s",
                measured=f"{median:.2f} s",
                ratio=median / baseline,
                target=f"≤ {TARGET} s",
                met=median <= TARGET,
            )
        )
    return rows


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=child_env(), capture_output=True, timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[1:]} exited {done.returncode}: {done.stderr[-300:]!r}")
    return elapsed


def _small_archive(db: Path) -> None:
    """One committed run of 20 items, finished now (so ``--since 1d`` has rows)."""
    archive = open_archive(db)
    now = datetime.now(UTC)
    url = "https://example.jp/tag/nato/"
    run_id = begin_run(archive, topic="nato", url=url, trigger="manual", started_at=now, pid=1)
    sightings = tuple(
        Sighting(f"https://example.jp/{n}/", f"見出し {n}", f"要約 {n}", "", n, 1)
        for n in range(1, 21)
    )
    commit_run(archive, run_id, RunReport((PageResult(url, 1, sightings=sightings),)), now)
    archive.close()
