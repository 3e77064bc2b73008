"""The fault matrix, operator input: bad options and bad config are usage errors (exit 2).

Each row runs the real ``topicwatch`` command in a child process and checks the one-line
error, the exit status, and that nothing was created beside the config file.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import child_env
from fault_checks import as_params
from fault_matrix import rows

NOWHERE = "http://127.0.0.1:9/articles/tag/nato/"  # never reached: input fails first


def crawl(*args: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["crawl", "--url", NOWHERE, "--db", str(tmp / "a.db"), *args]


def daemon(config: str) -> Callable[[Path], list[str]]:
    def argv(tmp: Path) -> list[str]:
        path = tmp / "tw.toml"
        path.write_text(f'db = "{tmp / "a.db"}"\n{config}', encoding="utf-8")
        return ["daemon", "--config", str(path)]

    return argv


COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "unknown-option": crawl("--bogus"),
    "bad-url": lambda tmp: ["crawl", "--url", "ftp://example.jp/x/", "--db", str(tmp / "a.db")],
    "bad-wait": crawl("--wait", "soon"),
    "bad-setting-syntax": crawl("-s", "DOWNLOAD_DELAY"),
    "bad-setting-value": crawl("-s", "DOWNLOAD_TIMEOUT=soon"),
    "bad-selectors": crawl("--selectors", '{"bogus": "x"}'),
    "bad-config-duration": daemon('[defaults]\nevery = "5 parsecs"\n'),
    "bad-config-key": daemon('colour = "blue"\n'),
    "bad-config-toml": daemon("[[topic\n"),
}


@pytest.mark.parametrize("fault", as_params(rows("input")))
def test_bad_input_is_a_usage_error(fault, tmp_path):
    argv = COMMANDS[fault.id](tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "crawler", *argv],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == int(fault.exit), done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and fault.error in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["tw.toml"])


def test_every_row_has_a_command():
    assert set(COMMANDS) == {fault.id for fault in rows("input")}
