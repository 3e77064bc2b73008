"""Running crawls as child processes, as the daemon does: environment and commands.

Every crawl gets its own process (Twisted's reactor cannot restart), with no proxy
variables so that nothing leaves 127.0.0.1, and a timeout so a hung crawl ends the bench.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
TIMEOUT = 300.0


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("TOPICWATCH_DB", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def setting_args(settings: dict[str, str]) -> list[str]:
    return [arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")]


def run_json(command: list[str], timeout: float = TIMEOUT) -> dict[str, Any]:
    """Run a child that prints one JSON object; fail loudly with its stderr otherwise."""
    done = subprocess.run(
        command, capture_output=True, text=True, env=child_env(), timeout=timeout, cwd=ROOT
    )
    try:
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError):
        raise RuntimeError(
            f"{' '.join(command[:4])}... exited {done.returncode}: {done.stderr[-2000:]}"
        ) from None


def topicwatch_crawl(
    url: str, db: Path, settings: dict[str, str], *args: str, timeout: float = TIMEOUT
) -> dict[str, Any]:
    """``topicwatch crawl --json``: the run's row plus ``duration`` (see crawler.run)."""
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", url, "--db", str(db), "--json"]
    run = run_json([*command, *args, *setting_args(settings)], timeout)
    if run.get("status") != "ok":
        raise RuntimeError(f"crawl of {url} was not ok: {run}")
    return run
