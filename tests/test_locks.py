"""Lock files are never followed through symlinks, and their directory must be ours.

A symlink planted at ``<db>.locks/<hash>.lock`` or at ``daemon.lock`` made topicwatch
truncate the file it pointed to and write a pid into it. Each case plants something,
runs the real command, and checks the victim is byte for byte as it was and the refusal
is one line with exit status 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import child_env

from topicwatch.archive import open_archive, topic_lock
from topicwatch.archive.daemon_state import daemon_lock
from topicwatch.archive.lock import UnsafeLock, is_locked, lock_dir, lock_holder, lock_path
from topicwatch.cli import cli

URL = "http://127.0.0.1:9/articles/tag/nato/"  # never fetched: the lock is refused first
SECRET = b"root:x:0:0:precious\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "precious.txt"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "a.db"
    open_archive(path).close()
    return path


def crawl(db: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "topicwatch", "crawl", "--url", URL, "--db", str(db)]
    return subprocess.run(argv, capture_output=True, text=True, env=child_env(), timeout=60)


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(word in errors[0] for word in words), errors[0]


def test_a_symlinked_topic_lock_file_is_refused(db, victim):
    lock = lock_path(db, URL)
    lock.parent.mkdir(mode=0o755)
    lock.symlink_to(victim)
    refused(crawl(db), "refusing lock file", "symbolic link")
    assert victim.read_bytes() == SECRET


def test_a_dangling_symlink_is_not_followed_to_create_its_target(db, tmp_path):
    target = tmp_path / "elsewhere" / "created-by-us"
    lock = lock_path(db, URL)
    lock.parent.mkdir(mode=0o755)
    lock.symlink_to(target)
    refused(crawl(db), "symbolic link")
    assert not target.exists()


def test_a_symlinked_lock_directory_is_refused(db, victim):
    lock_dir(db).symlink_to(victim.parent, target_is_directory=True)
    refused(crawl(db), "refusing lock directory", "symbolic link")
    assert sorted(p.name for p in victim.parent.iterdir()) == ["precious.txt"]


def test_a_lock_directory_others_may_write_is_refused(db):
    lock_dir(db).mkdir()
    lock_dir(db).chmod(0o777)
    refused(crawl(db), "others may write it", "chmod go-w")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory away")
def test_a_lock_directory_of_another_user_is_refused(db):
    lock_dir(db).mkdir(mode=0o755)
    os.chown(lock_dir(db), 65534, 65534)
    refused(crawl(db), "belongs to uid 65534")


def test_a_hard_link_or_a_fifo_in_place_of_a_lock_file_is_refused(db, victim):
    lock = lock_path(db, URL)
    lock.parent.mkdir(mode=0o755)
    os.link(victim, lock)
    with pytest.raises(UnsafeLock, match="2 hard links"), topic_lock(db, URL):
        pass
    assert victim.read_bytes() == SECRET
    lock.unlink()
    os.mkfifo(lock)
    with pytest.raises(UnsafeLock, match="not a regular file"), topic_lock(db, URL):
        pass  # and it did not hang waiting for a writer on the FIFO


def test_the_daemon_lock_is_never_followed(db, victim, tmp_path):
    lock_dir(db).mkdir(mode=0o755)
    (lock_dir(db) / "daemon.lock").symlink_to(victim)
    with pytest.raises(UnsafeLock, match="symbolic link"), daemon_lock(db):
        pass
    config = tmp_path / "tw.toml"
    config.write_text(f'db = "{db}"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "topicwatch", "daemon", "--config", str(config)],
        capture_output=True, text=True, env=child_env(), timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "refusing lock file" in done.stderr and "Traceback" not in done.stderr
    assert victim.read_bytes() == SECRET


def test_the_daemon_command_checks_the_lock_directory_before_starting(db):
    lock_dir(db).mkdir()
    lock_dir(db).chmod(0o775)
    config = db.parent / "tw.toml"
    config.write_text(f'db = "{db}"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["daemon", "--config", str(config)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: refusing lock directory")


def test_reading_a_planted_lock_never_follows_it(db, victim):
    lock = lock_path(db, URL)
    lock.parent.mkdir(mode=0o755)
    lock.symlink_to(victim)
    assert not is_locked(db, URL)
    assert lock_holder(db, URL) is None


def test_the_lock_still_works_and_is_private(db):
    with topic_lock(db, URL):
        assert is_locked(db, URL)
        assert lock_holder(db, URL) == str(os.getpid())
    assert not is_locked(db, URL)
    assert oct(lock_dir(db).stat().st_mode & 0o777) == oct(0o755 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
