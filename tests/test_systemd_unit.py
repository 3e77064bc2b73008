"""The systemd unit, the example config and the guide work together as written.

The unit once never started: the example config's relative ``db`` resolved under
/etc/topicwatch, which ``ProtectSystem=strict`` makes read-only, and exit 2 with
``RestartPreventExitStatus=2`` kept it down. Here the daemon runs with the unit's own
command line (paths moved under a temporary root), the example config as shipped (its
topic pointed at a local site, nothing leaving 127.0.0.1, and no politeness delay), and
the config directory read-only; it must archive into the state directory and write
nothing beside the config.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_helpers import Daemon, runs, wait_until
from fixture_site import FixtureSite

ROOT = Path(__file__).parents[1]
UNIT = ROOT / "docs" / "topicwatch.service"
EXAMPLE = ROOT / "topicwatch.example.toml"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT, encoding="utf-8")
    return parser


def exec_start() -> list[str]:
    return shlex.split(unit()["Service"]["ExecStart"])


def test_the_unit_gives_the_daemon_a_writable_home_for_its_archive():
    service = unit()["Service"]
    argv = exec_start()
    assert argv[1:3] == ["daemon", "--config"]
    db = Path(argv[argv.index("--db") + 1])
    state = Path("/var/lib") / service["StateDirectory"]
    assert db.parent == state == Path(service["WorkingDirectory"])
    assert service["DynamicUser"] == "yes"  # no user to create by hand
    assert service["ProtectSystem"] == "strict"  # so only the state directory is writable
    assert Path(argv[argv.index("--config") + 1]).parent.is_relative_to("/etc")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    """The unit as shipped, its program path pointed at this checkout's console script."""
    script = str(Path(sys.executable).parent / "topicwatch")
    text = UNIT.read_text(encoding="utf-8").replace("/opt/topicwatch/.venv/bin/topicwatch", script)
    checked = tmp_path / "topicwatch.service"
    checked.write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(checked)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in done.stderr.splitlines()
        if "topicwatch.service" in line and "Failed to" not in line  # no systemd running here
    ]
    assert done.returncode == 0 or not problems, done.stderr


def test_the_example_config_runs_from_a_read_only_config_directory(tmp_path):
    argv = exec_start()
    config_dir = tmp_path / "etc" / "topicwatch"
    state_dir = tmp_path / "var" / "lib" / "topicwatch"
    config_dir.mkdir(parents=True)
    state_dir.mkdir(parents=True)
    config = config_dir / Path(argv[argv.index("--config") + 1]).name
    db = state_dir / Path(argv[argv.index("--db") + 1]).name
    with FixtureSite() as site:
        shipped = EXAMPLE.read_text(encoding="utf-8")
        assert "https://novaist.jp/articles/tag/nato/" in shipped
        assert "\n[settings]\n" in shipped
        local = shipped.replace("https://novaist.jp/articles/tag/nato/", site.topic_url())
        # No politeness delay against the local site (20 article pages, 2 s apart otherwise).
        local = local.replace("\n[settings]\n", '\n[settings]\nDOWNLOAD_DELAY = "0"\n')
        config.write_text(local, encoding="utf-8")
        config_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only, as ProtectSystem makes it
        try:
            # The unit's command line, its two paths moved under tmp_path.
            with Daemon(config, "--db", str(db)) as daemon:
                wait_until(lambda: runs(db, status="ok"), 60, "the first scheduled run")
                assert daemon.stop() == 0
        finally:
            config_dir.chmod(stat.S_IRWXU)
    assert sorted(p.name for p in config_dir.iterdir()) == [config.name]  # nothing beside it
    assert db.exists() and (state_dir / f"{db.name}.locks").is_dir()
