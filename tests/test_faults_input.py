"""The fault matrix, operator input: bad options and bad config are usage errors (exit 2).

Each row runs the real ``topicwatch`` command in a child process and checks the one-line
error, the exit status, and that nothing was created or changed beside what the row set
up (a config file, an archive for the analysts' commands).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import child_env
from fault_checks import as_params
from fault_matrix import rows

from topicwatch.archive import open_archive
from topicwatch.archive.runs import begin_run

NOWHERE = "http://127.0.0.1:9/articles/tag/nato/"  # never reached: input fails first


def crawl(*args: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["crawl", "--url", NOWHERE, "--db", str(tmp / "a.db"), *args]


def daemon(config: str) -> Callable[[Path], list[str]]:
    def argv(tmp: Path) -> list[str]:
        path = tmp / "tw.toml"
        path.write_text(f'db = "{tmp / "a.db"}"\n{config}', encoding="utf-8")
        return ["daemon", "--config", str(path)]

    return argv


def analyst(*args: str) -> Callable[[Path], list[str]]:
    """An analysts' command on an archive that has one run (else it is "empty")."""

    def argv(tmp: Path) -> list[str]:
        db = open_archive(tmp / "a.db")
        now = datetime(2026, 2, 1, tzinfo=UTC)
        begin_run(db, topic="t", url=NOWHERE, trigger="manual", started_at=now, pid=1)
        db.close()
        return [*args, "--db", str(tmp / "a.db")]

    return argv


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path with its bytes; a reader's WAL index and empty log are no change."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
        if not path.name.endswith("-shm")
        and not (path.name.endswith("-wal") and not path.stat().st_size)
    }


def raw_argument(*args: str | bytes) -> Callable[[Path], list[str | bytes]]:
    """An analysts' command given bytes that are not UTF-8 (Latin-1 ``é``, a lone byte)."""
    return lambda tmp: [
        *analyst(*[a for a in args if isinstance(a, str)])(tmp),
        *[a for a in args if isinstance(a, bytes)],
    ]


def fifo_config(tmp: Path) -> list[str]:
    """A FIFO as the config: nothing ever writes it."""
    os.mkfifo(tmp / "tw.toml")
    return ["daemon", "--config", str(tmp / "tw.toml")]


COMMANDS: dict[str, Callable[[Path], list[str]] | Callable[[Path], list[str | bytes]]] = {
    "unknown-option": crawl("--bogus"),
    "bad-url": lambda tmp: ["crawl", "--url", "ftp://example.jp/x/", "--db", str(tmp / "a.db")],
    "bad-wait": crawl("--wait", "soon"),
    "bad-setting-syntax": crawl("-s", "DOWNLOAD_DELAY"),
    "bad-setting-value": crawl("-s", "DOWNLOAD_TIMEOUT=soon"),
    "bad-selectors": crawl("--selectors", '{"bogus": "x"}'),
    "bad-config-duration": daemon('[defaults]\nevery = "5 parsecs"\n'),
    "bad-config-key": daemon('colour = "blue"\n'),
    "bad-config-toml": daemon("[[topic\n"),
    "config-duration-range": daemon("[defaults]\nevery = nan\n"),
    "config-bad-url": daemon('[[topic]]\nurl = "http://[::1"\n'),
    "config-reserved-name": daemon(f'[[topic]]\nname = "housekeeping"\nurl = "{NOWHERE}"\n'),
    "config-bad-selector": daemon(
        f'[[topic]]\nurl = "{NOWHERE}"\nselectors = {{ item = "div[" }}\n'
    ),
    "config-cron-never": daemon('[defaults]\ncron = "0 0 30 2 *"\n'),
    "config-cron-step": daemon('[defaults]\ncron = "*/61 * * * *"\n'),
    "config-setting-count": daemon("[settings]\nCONCURRENT_REQUESTS = 1.5\n"),
    "config-every-subsecond": daemon("[defaults]\nevery = 0.001\n"),
    "config-nul": daemon(f'[[topic]]\nurl = "{NOWHERE}"\nname = "a\\u0000b"\n'),
    "db-path-too-long": lambda tmp: ["crawl", "--url", NOWHERE, "--db", str(tmp / ("x" * 250))],
    "config-deep-selector": daemon(
        f'[[topic]]\nurl = "{NOWHERE}"\nselectors = {{ item = "{":is(" * 20}a{")" * 20}" }}\n'
    ),
    "port-zero": analyst("serve", "--port", "0"),
    "config-not-a-file": fifo_config,
    "config-toml-deep": daemon("x = " + "[" * 100_000 + "]" * 100_000 + "\n"),
    "crawl-wait-range": crawl("--wait", "nan"),
    "crawl-setting-infinite": crawl("-s", "DOWNLOAD_TIMEOUT=inf"),
    "crawl-bad-selector": crawl("--selectors", '{"item": "div["}'),
    "analyst-out-of-range": analyst("changes", "--since", "999999999d"),
    "argv-not-utf8": raw_argument("search", b"caf\xe9"),
}


@pytest.mark.parametrize("fault", as_params(rows("input")))
def test_bad_input_is_a_usage_error(fault, tmp_path):
    argv = COMMANDS[fault.id](tmp_path)
    before = tree(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "topicwatch", *argv],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == int(fault.exit), done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and fault.error in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert tree(tmp_path) == before


def test_every_row_has_a_command():
    assert set(COMMANDS) == {fault.id for fault in rows("input")}


@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
@pytest.mark.parametrize(
    "args", [["search", b"\xff"], ["history", b"\xff"], ["search", "--json", b"x\xffy"]]
)
def test_bytes_that_are_not_utf8_are_one_line_in_any_locale(tmp_path, locale, args):
    argv = [*args, *analyst()(tmp_path)]  # an archive with one run, then --db it
    done = subprocess.run(
        [sys.executable, "-m", "topicwatch", *argv],
        capture_output=True,
        env={**child_env(), "LC_ALL": locale},
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count(b"Error:") == 1 and b"is not UTF-8 text" in done.stderr
    assert b"Traceback" not in done.stderr
