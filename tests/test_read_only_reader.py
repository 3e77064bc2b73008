"""An analyst who may read the archive but not write its directory, with the daemon stopped.

The last writer to close deletes the WAL index (``-shm``); a ``mode=ro`` reader must then
create it and, without write permission, got "attempt to write a readonly database".
Readers now fall back to a pinned read (see :mod:`archive.readonly`): checked against the
file afterwards, so a writer that appears meanwhile makes the command fail in one line
instead of showing what a checkpoint tore. Commands run as real processes; under root
(CI) they run without the capability that lets root ignore permissions.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import child_env, run_crawl
from fault_matrix import row
from fixture_site import FixtureSite, make_articles

from topicwatch.archive import open_archive

NOBODY = 65534
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE = 24, 1


def _without_write_override() -> None:
    """Root minus CAP_DAC_OVERRIDE: it reads anything but writes only where permitted.

    (Becoming ``nobody`` would lose the interpreter too, when it lives under /root.)
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def as_reader(argv: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``argv`` as a user who may read the archive but not write its directory."""
    preexec = _without_write_override if os.geteuid() == 0 else None
    return subprocess.Popen(
        argv, env=child_env(), text=True, preexec_fn=preexec, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, **kwargs,
    )  # fmt: skip


def topicwatch(*argv: str) -> subprocess.CompletedProcess[str]:
    process = as_reader([sys.executable, "-m", "topicwatch", *argv])
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def hand_over(directory: Path) -> None:
    """Make the directory and its files another user's (root) or read-only (others)."""
    for path in [directory, *directory.iterdir()]:
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
        else:
            path.chmod(0o555 if path.is_dir() else 0o444)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One crawled archive, closed as the daemon's last connection closes on stopping."""
    db = tmp_path_factory.mktemp("baseline") / "a.db"
    with FixtureSite() as site:
        assert run_crawl(site.topic_url(), db).returncode == 0
    open_archive(db).close()  # the last writer to close removes -wal and -shm
    return db


@pytest.fixture
def archive(baseline: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the baseline in a directory the reader may not write, no writer running."""
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o755)
    db = directory / "a.db"
    shutil.copyfile(baseline, db)
    hand_over(directory)
    yield db
    directory.chmod(0o755)  # let pytest clean up


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.suffix != ".locks")


def test_the_writer_left_no_wal_index(archive):
    assert listing(archive.parent) == ["a.db"]


READS = [
    ("changes", "--since", "2000-01-01", "--json"),
    ("search", "NATO", "--json"),
    ("history", "1", "--json"),
    ("asof", "now", "--json"),
    ("export", "--format", "jsonl"),
    ("gaps", "--json"),
    ("status", "--json"),
    ("show-snapshot", "1"),
    ("prune", "--keep", "1d", "--dry-run"),
]


@pytest.mark.parametrize("argv", READS, ids=lambda argv: argv[0])
def test_analysts_read_without_the_wal_index(archive, argv):
    before = archive.read_bytes()
    done = topicwatch(*argv, "--db", str(archive))
    assert done.returncode == int(row("reader-without-shm").exit), done.stderr
    assert done.stdout and "Traceback" not in done.stderr
    if argv[0] == "changes":
        assert [c["kind"] for c in json.loads(done.stdout)] == ["new"] * 20
    assert archive.read_bytes() == before
    assert listing(archive.parent) == ["a.db"]


def test_serve_refuses_what_it_could_not_keep_reading_correctly(archive):
    pytest.importorskip("datasette")
    with socket.socket() as probe:  # a free port, were serve not to refuse (it must)
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    done = topicwatch("serve", "--db", str(archive), "--port", port)
    assert done.returncode == 2
    assert done.stderr.startswith("Error: cannot serve") and done.stderr.count("\n") == 1


READER = """
import sys
from topicwatch.archive import open_archive
from topicwatch.archive.db import confirm_read, is_pinned_read
from topicwatch.archive.errors import ArchiveError
db = open_archive(sys.argv[1], readonly=True)
print(is_pinned_read(db), db.execute("SELECT count(*) FROM items").fetchone()[0], flush=True)
sys.stdin.readline()  # the test crawls meanwhile
db.execute("SELECT count(*) FROM items").fetchone()
try:
    confirm_read(db)
except ArchiveError as error:
    print(error, flush=True)
    sys.exit(3)
"""


def test_a_writer_appearing_mid_read_is_reported_not_trusted(archive, site):
    reader = as_reader([sys.executable, "-c", READER, str(archive)], stdin=subprocess.PIPE)
    assert reader.stdout is not None and reader.stdin is not None
    assert reader.stdout.readline().split() == ["True", "20"]
    archive.parent.chmod(0o755)  # the writer, the directory's owner here, may write it
    site.add_articles(make_articles(3))
    assert run_crawl(site.topic_url(), archive).returncode == 0
    out, err = reader.communicate("go\n", timeout=60)
    assert reader.returncode == 3, err
    assert "was written while being read" in out and "run the command again" in out
