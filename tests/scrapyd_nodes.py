"""Real Scrapyd nodes on loopback for the scale-out tests, and the project deployed to them.

Each node is a ``scrapyd`` process in its own temporary directory on a free 127.0.0.1
port (``poll_interval`` 0.5, ``jobs_to_keep`` 100, jobs kept in SQLite so a restarted node
still lists them), stopped by its pid. The project reaches the nodes as operators deploy
it: ``scrapyd-deploy --build-egg`` (in a copy under a temporary directory: it writes a
``setup.py``), then ``addversion.json`` with the daemon's version.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from conftest import child_env

from topicwatch import __version__

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Node:
    """One scrapyd process: its directory, port, and (optional) basic-auth credentials."""

    def __init__(
        self,
        home: Path,
        username: str = "",
        password: str = "",
        jobs_to_keep: int = 100,
        installed: bool = False,
    ) -> None:
        self.home = home
        # Without an egg: topicwatch installed in the node's environment, and the project
        # named in Scrapyd's [settings] (the pip-installed way of docs/operations.md).
        self.installed = installed
        self.jobs_to_keep = jobs_to_keep
        self.orphans: set[int] = set()  # crawls a SIGKILLed node left running
        self.username = username
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        home.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Node:
        (self.home / "scrapyd.conf").write_text(
            "[scrapyd]\nbind_address = 127.0.0.1\n"
            f"http_port = {self.port}\npoll_interval = 0.5\nmax_proc = 4\n"
            f"items_dir = {self.home / 'items'}\nlogs_dir = {self.home / 'logs'}\n"
            f"eggs_dir = {self.home / 'eggs'}\ndbs_dir = {self.home / 'dbs'}\n"
            f"jobs_to_keep = {self.jobs_to_keep}\nfinished_to_keep = 1000\n"
            "jobstorage = scrapyd.jobstorage.SqliteJobStorage\n"
            f"username = {self.username}\npassword = {self.password}\n",
            encoding="utf-8",
        )
        if self.installed:  # both Scrapyd and the crawl read [settings] of ./scrapy.cfg
            (self.home / "scrapy.cfg").write_text(
                "[settings]\ntopicwatch = topicwatch.crawler.settings\n", encoding="utf-8"
            )
        env = {k: v for k, v in child_env().items() if not k.startswith("SCRAPY")}
        env.pop("PYTHONPATH", None)  # the node runs the deployed egg, not the checkout
        with (self.home / "scrapyd.out").open("ab") as log:  # the child keeps its copy
            self.process = subprocess.Popen(
                [str(BIN / "scrapyd")], cwd=self.home, env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"scrapyd did not start: {self.log_tail()}")
            time.sleep(0.1)
        return self

    def answers(self) -> bool:
        try:
            self.get("daemonstatus.json")
            return True
        except (OSError, ValueError):
            return False

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """Stop the node by its pid (SIGKILL by default: its running crawls outlive it)."""
        if self.process is not None and self.process.poll() is None:
            self.orphans.update(self.crawl_pids())
            os.kill(self.process.pid, signum)
            self.process.wait(timeout=30)

    def kill_orphans(self) -> None:
        for pid in self.orphans:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.orphans.clear()

    def log_tail(self) -> str:
        path = self.home / "scrapyd.out"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def _request(self, path: str, data: bytes | None = None) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/{path}", data=data)
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))

    def get(self, path: str) -> dict[str, Any]:
        return self._request(path)

    def post(self, path: str, fields: dict[str, Any], files: dict[str, bytes] | None = None):
        boundary = "topicwatch-test-boundary"
        parts = []
        for name, value in fields.items():
            for one in value if isinstance(value, list) else [value]:
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                    f"\r\n\r\n{one}\r\n".encode()
                )
        for name, content in (files or {}).items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}";'
                f' filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                + content
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        request = urllib.request.Request(f"{self.url}/{path}", data=body)
        request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))

    def deploy(self, egg: bytes, project: str = "topicwatch") -> None:
        answer = self.post("addversion.json", {"project": project, "version": __version__},
                           {"egg": egg})  # fmt: skip
        if answer.get("status") != "ok":  # Scrapyd says errors with HTTP 200
            raise RuntimeError(f"addversion.json: {answer}")

    def crawl_pids(self) -> list[int]:
        """The node's running crawl processes (its children)."""
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def build_egg(workdir: Path) -> bytes:
    """The project as ``scrapyd-deploy --build-egg`` makes it, built in a copy."""
    source = workdir / "project"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "scrapy.cfg", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "topicwatch", source / "topicwatch", symlinks=False,
        ignore=shutil.ignore_patterns("__pycache__"),
    )  # fmt: skip
    egg = workdir / "topicwatch.egg"
    subprocess.run(
        [str(BIN / "scrapyd-deploy"), f"--build-egg={egg}"], cwd=source, check=True,
        capture_output=True, env={k: v for k, v in child_env().items() if k != "PYTHONPATH"},
        timeout=120,
    )  # fmt: skip
    return egg.read_bytes()


@pytest.fixture(scope="session")
def scrapyd_egg(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The project's egg, built once a session."""
    return build_egg(tmp_path_factory.mktemp("egg"))


@pytest.fixture(scope="session")
def scrapyd_nodes(
    tmp_path_factory: pytest.TempPathFactory, scrapyd_egg: bytes
) -> Iterator[list[Node]]:
    """Two real scrapyd processes on free loopback ports, the project deployed to both."""
    with running_nodes(tmp_path_factory.mktemp("scrapyd"), scrapyd_egg) as nodes:
        yield nodes


@contextmanager
def running_nodes(work: Path, egg: bytes, count: int = 2, **options: Any) -> Iterator[list[Node]]:
    """``count`` started nodes with the egg deployed; stopped by pid afterwards, with any
    crawl a killed node left behind."""
    nodes: list[Node] = []
    try:
        for number in range(1, count + 1):
            nodes.append(Node(work / f"node{number}", **options).start())
        for node in nodes:
            node.deploy(egg)
        yield nodes
    finally:
        for node in nodes:
            node.kill(signal.SIGTERM)
            node.kill_orphans()
