"""The daemon's log carries strangers' text escaped: one record, one line, no control codes.

A site's ``Content-Type`` (quoted in a failed run's error) or an alert command's last line
of stderr reach the log; unescaped, a line break there forges a record and ``ESC ] 0``
retitles the terminal of whoever tails it. The daemon runs for real against a local site.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import Daemon, runs, wait_until, write_config
from fault_checks import TOPIC_PATH
from fault_matrix import row
from fault_site import FaultSite

from topicwatch.printable import printable

P = TOPIC_PATH
HOSTILE = "application/pdf\x1b]0;owned\x07\x1b[2J"
# An alert command whose last line of stderr hides text from a terminal.
FORGER = "import sys; sys.stderr.write('\\x1b[8mhidden\\x1b[0m forged record\\n'); sys.exit(3)"


@pytest.fixture
def site() -> Iterator[FaultSite]:
    with FaultSite() as running:
        running.serve_raw(P, b"%PDF-1.4\n%%EOF\n", headers={"Content-Type": HOSTILE})
        yield running


def hostile_daemon(site: FaultSite, tmp_path: Path, *args: str) -> Daemon:
    config = write_config(
        tmp_path / "tw.toml", tmp_path / "a.db", [{"name": "nato", "url": site.topic_url("nato")}],
        defaults={"every": "1s"}, settings={"RETRY_TIMES": "0"},
        alerts={"after": 1, "command": [sys.executable, "-c", FORGER]},
    )  # fmt: skip
    return Daemon(config, *args)


def logged(site: FaultSite, tmp_path: Path, *args: str) -> list[str]:
    with hostile_daemon(site, tmp_path, *args) as daemon:
        wait_until(lambda: runs(tmp_path / "a.db", "nato", "failed"), 60, "a failed run")
        daemon.wait_for_output("not sent", 60)
        assert daemon.stop() == 0
    return daemon.lines


def check_escaped(lines: list[str], parse: Callable[[str], Any]) -> None:
    for line in lines:
        assert printable(line) == line, line  # no control character at all
        parse(line)


def test_text_log_lines_escape_what_sites_and_hooks_send(site, tmp_path):
    lines = logged(site, tmp_path)
    check_escaped(lines, lambda line: line[:4].isdigit() or pytest.fail(line))
    text = "\n".join(lines)
    assert row("log-injection").error in text
    assert "\\x1b[8mhidden\\x1b[0m forged record" in text


def test_json_log_lines_escape_them_as_json(site, tmp_path):
    lines = logged(site, tmp_path, "--log-json")
    check_escaped(lines, json.loads)
    messages = [json.loads(line)["message"] for line in lines]
    assert any(HOSTILE in message for message in messages)  # the same text, once parsed
