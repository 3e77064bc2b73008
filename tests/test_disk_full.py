"""A full disk reads as "disk full", never as a damaged archive, and loses nothing.

Real limits, no mocks: a crawl child under a file-size limit (``RLIMIT_FSIZE``, with
SIGXFSZ ignored so writes fail with EFBIG as they would with ENOSPC), and a small tmpfs
mounted in a private mount namespace when the machine allows one. Before, opening the
archive on a full disk said "not a topicwatch archive (disk I/O error)": SQLite could
not size its WAL index, and the opener took that for a damaged file.
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Crawl, scalar
from fault_checks import (  # noqa: F401 (fixtures)
    TOPIC_PATH,
    assert_nothing_lost,
    assert_outcome,
    baseline_fixture,
    case_fixture,
    crawl_argv,
    fault_env,
    fault_site_fixture,
)
from fault_matrix import row

from topicwatch.archive import open_archive


def file_size_limit(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def run(argv: list[str], limit: int) -> Crawl:
    done = subprocess.run(
        argv, capture_output=True, text=True, env=fault_env(), timeout=120,
        preexec_fn=file_size_limit(limit),
    )  # fmt: skip
    return Crawl(done.returncode, done.stdout, done.stderr)


def one_error(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0]


def test_opening_an_archive_with_no_room_to_grow_says_disk_full(case):
    """16 KiB: not even SQLite's 32 KiB WAL index fits (the old "disk I/O error")."""
    before = case.db.read_bytes()
    fault = row("disk-full-open")
    crawl = run(crawl_argv(case.site.topic_url(), case.db), 16 * 1024)
    assert crawl.returncode == int(fault.exit), crawl.stderr
    assert one_error(crawl.stderr).startswith(f"Error: {fault.error}")
    assert "not a topicwatch archive" not in crawl.stderr
    assert case.db.read_bytes() == before


def test_a_new_archive_on_a_full_disk_says_disk_full(case, tmp_path):
    crawl = run(crawl_argv(case.site.topic_url(), tmp_path / "new.db"), 16 * 1024)
    assert crawl.returncode == 2, crawl.stderr
    assert one_error(crawl.stderr).startswith("Error: disk full")


def test_analysts_still_read_an_archive_on_a_full_disk(case):
    argv = [sys.executable, "-m", "topicwatch", "changes", "--since", "2000-01-01"]
    done = run([*argv, "--db", str(case.db), "--json"], 16 * 1024)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"kind": "new"') == 20


def test_a_disk_that_fills_during_the_crawl_fails_the_run_as_disk_full(case):
    """The crawl's one write transaction does not fit: the run is recorded as failed
    with reason ``storage`` and says "disk full"; nothing archived is lost or changed."""
    page = case.site.page_bytes(TOPIC_PATH)
    padding = secrets.token_urlsafe(3 * 1024 * 1024).encode()  # incompressible snapshot
    case.site.serve_raw(TOPIC_PATH, page.replace(b"</body>", b"<!--" + padding + b"--></body>"))
    before = case.state()
    limit = case.db.stat().st_size + (5 << 20) // 4  # room to open, none for the snapshot
    crawl = run(crawl_argv(case.site.topic_url(), case.db, "-s", "DOWNLOAD_WARNSIZE=0"), limit)
    assert_outcome(row("disk-full-commit"), crawl)
    assert crawl.run["error"].startswith("disk full"), crawl.run
    assert scalar(case.db, "SELECT reason FROM crawl_runs ORDER BY id DESC LIMIT 1") == "storage"
    assert_nothing_lost(before, case.state())


def _can_mount_tmpfs(directory: Path) -> bool:
    probe = ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "none"]
    try:
        done = subprocess.run([*probe, str(directory)], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def test_a_small_tmpfs_full_of_archive_says_disk_full(case, tmp_path):
    """The archive copied onto a tmpfs with 64 KiB left, crawled in that mount namespace."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    if shutil.which("unshare") is None or not _can_mount_tmpfs(mount):
        pytest.skip("no private mount namespace here (unshare -m / mount -t tmpfs)")
    size = case.db.stat().st_size + 64 * 1024
    db = mount / "archive.db"
    saved = tmp_path / "after.db"
    script = (
        f'mount -t tmpfs -o size={size} none "{mount}" && cp "{case.db}" "{db}" && "$@";'
        f' code=$?; cp "{db}" "{saved}"; exit $code'
    )
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"]
    done = subprocess.run(
        [*argv, *crawl_argv(case.site.topic_url(), db)],
        capture_output=True, text=True, env=fault_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert one_error(done.stderr).startswith("Error: disk full: ")
    assert "bytes free" in done.stderr
    assert saved.read_bytes() == case.db.read_bytes()


def test_a_tmpfs_out_of_inodes_says_disk_full(case, tmp_path):
    """Blocks to spare, no inode left: SQLite cannot create the -wal beside the archive
    (it said "cannot open … (unable to open database file)"); a new archive alike."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    if shutil.which("unshare") is None or not _can_mount_tmpfs(mount):
        pytest.skip("no private mount namespace here (unshare -m / mount -t tmpfs)")
    db = mount / "archive.db"
    saved = tmp_path / "after.db"
    fault = row("disk-full-inodes")
    script = (
        f'mount -t tmpfs -o size=64m,nr_inodes=8 none "{mount}" && cp "{case.db}" "{db}"'
        f' && i=0 && while touch "{mount}/f$i" 2>/dev/null; do i=$((i + 1)); done'
        f' && "$@" && "$@" --db "{mount}/new.db"; code=$?; cp "{db}" "{saved}";'
        f' ls "{mount}" >&2; exit $code'
    )
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"]
    site = case.site.topic_url()
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", site, "--db", str(db)]
    done = subprocess.run(
        [*argv, *command], capture_output=True, text=True, env=fault_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == int(fault.exit), done.stderr
    assert one_error(done.stderr).startswith(f"Error: {fault.error}")
    assert "inodes free" in done.stderr and "new.db" not in done.stderr  # nothing created
    assert saved.read_bytes() == case.db.read_bytes()


def test_the_library_refuses_a_writer_before_it_writes(case, tmp_path):
    """In-process: the same check ``open_archive`` makes for every writer."""
    code = (
        "import sys\nfrom archive import ArchiveError, open_archive\n"
        "try:\n    open_archive(sys.argv[1])\nexcept ArchiveError as error:\n"
        "    print(error)\n    sys.exit(2)\n"
    )
    done = run([sys.executable, "-c", code, str(case.db)], 16 * 1024)
    assert done.returncode == 2 and done.stdout.startswith("disk full"), done.stderr
    open_archive(case.db).close()  # without the limit: fine
    assert os.path.getsize(case.db) > 16 * 1024


@pytest.mark.parametrize(
    "argv",
    [["changes", "--since", "2000-01-01"], ["changes", "--since", "2000-01-01", "--json"],
     ["export"], ["history", "1"], ["show-snapshot", "1"]],
    ids=lambda argv: " ".join(argv[:2]),
)  # fmt: skip
def test_output_to_a_full_disk_is_one_line(case, argv):
    """``topicwatch changes > out`` on a full disk (``/dev/full`` answers every write with
    ENOSPC) was a traceback from inside click, or "Exception ignored" at exit."""
    fault = row("disk-full-output")
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "topicwatch", *argv, "--db", str(case.db)],
            stdout=full, stderr=subprocess.PIPE, text=True, env=fault_env(), timeout=60,
        )  # fmt: skip
    assert done.returncode == int(fault.exit), done.stderr
    assert done.stderr == f"Error: {fault.error}: No space left on device\n", done.stderr
