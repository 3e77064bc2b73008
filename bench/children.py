"""Running crawls as child processes, as the daemon does: environment and commands.

A crawl runs either as its own ``topicwatch crawl`` process or as an order to a warm
crawl worker (``python -m topicwatch.crawler.worker``, the daemon's way since issue 15).
Children get no proxy variables, so that nothing leaves 127.0.0.1, and a timeout, so a
hung crawl ends the bench.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType
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


class WarmWorker:
    """A warm crawl worker driven as the daemon's pool drives one: one JSON order a line
    on its stdin, one answer a line on its stdout. Here one order at a time (a check's
    cost, not a batch's); ended by closing its input, killed if it does not end."""

    def __init__(self, db: Path, settings: dict[str, str]) -> None:
        command = [sys.executable, "-m", "topicwatch.crawler.worker", "--db", str(db)]
        self.process = subprocess.Popen(
            [*command, *setting_args(settings)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=child_env(),
        )  # fmt: skip
        self.orders = 0

    def check(self, url: str, timeout: float = 120) -> dict[str, Any]:
        """One order (a scheduled check of ``url``); the worker's answer once on record."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.orders += 1
        order = {"order": self.orders, "url": url, "timeout": timeout}
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the warm worker ended (exit {self.process.wait(10)})")
        return dict(json.loads(line))

    def cpu_seconds(self) -> float:
        """The worker's user + system CPU seconds so far, from /proc (Linux)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        """End of input: the worker finishes and exits; killed if it has not in 60 s."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
            self.process.wait(60)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> WarmWorker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
