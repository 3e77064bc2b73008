"""What ``topicwatch crawl`` prints to a user: one line per outcome, no Scrapy tracebacks."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from conftest import TEST_SETTINGS, child_env, on_a_terminal


def refused_url() -> str:
    """A 127.0.0.1 URL nothing listens on (the port was just free)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/articles/tag/nato/"


def topicwatch(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "topicwatch", *args]
    return subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=120)


def settings_args() -> list[str]:
    return [arg for name, value in TEST_SETTINGS.items() for arg in ("-s", f"{name}={value}")]


def test_a_refused_connection_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    done = topicwatch("crawl", "--url", refused_url(), "--db", str(tmp_path / "a.db"),
                      *settings_args())  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("nato: failed run 1: 0 pages") and "Connection was refused" in line


def test_the_request_errors_come_back_at_info_level(tmp_path: Path) -> None:
    done = topicwatch("crawl", "--url", refused_url(), "--db", str(tmp_path / "a.db"),
                      "--log-level", "info", *settings_args())  # fmt: skip
    assert done.returncode == 1
    assert "Gave up retrying" in done.stderr


def test_an_unknown_log_level_is_a_usage_error_and_creates_nothing(tmp_path: Path) -> None:
    done = topicwatch("crawl", "--url", refused_url(), "--db", str(tmp_path / "a.db"),
                      "--log-level", "LOUD")  # fmt: skip
    assert done.returncode == 2
    assert "Invalid value for '--log-level': 'LOUD'" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_crawl_on_a_terminal_shows_its_progress(site, tmp_path: Path) -> None:
    code, shown = on_a_terminal("crawl", "--url", site.topic_url(), "--db",
                                str(tmp_path / "a.db"), *settings_args())  # fmt: skip
    assert code == 0, shown
    assert "\r\x1b[Kcrawling: 1 page read, 20 items, 20 of 20 article pages fetched" in shown
    # The progress line is erased; the summary line stands alone on its own line.
    last = shown.replace("\r\n", "\n").split("\n")[-2]
    assert last.split("\x1b[K")[-1].startswith("nato: ok run 1: 1 pages, 20 seen, 20 new")


def test_no_progress_into_a_pipe_or_with_json(site, tmp_path: Path) -> None:
    piped = topicwatch("crawl", "--url", site.topic_url(), "--db", str(tmp_path / "a.db"),
                       *settings_args())  # fmt: skip
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout.startswith("nato: ok run 1:") and piped.stdout.count("\n") == 1
    code, shown = on_a_terminal("crawl", "--url", site.topic_url(), "--db",
                                str(tmp_path / "a.db"), "--json", *settings_args())  # fmt: skip
    assert code == 0 and "crawling:" not in shown
    assert json.loads(shown)["status"] == "ok"
