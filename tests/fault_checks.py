"""What every fault test asserts: the run as recorded, and nothing archived lost or changed.

:func:`archive_state` takes the parts of the archive a fault could damage (items and their
versions, which items each topic lists and whether vanished, every change) without the
timestamps an ordinary re-sighting moves on; :func:`assert_nothing_lost` compares two.

:class:`Case` is one fault test's world: the module's fault site reset to the seed
listing, and a copy of a baseline archive that already holds it (one real crawl per
module instead of one per test).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_SETTINGS, Crawl, child_env, rows
from fault_matrix import Fault
from fault_site import FaultSite

TESTS = Path(__file__).parent
TOPIC_PATH = "/articles/tag/nato/"
# Fast faults: a 1 s timeout, one retry, no delay, a 0.05 s backoff; and no DNS query
# ever leaves the machine, whatever host name a fault makes the crawler meet.
FAULT_SETTINGS = {
    **TEST_SETTINGS,
    "DOWNLOAD_TIMEOUT": "1",
    "RETRY_TIMES": "1",
    "TWISTED_DNS_RESOLVER": "fault_site.LocalOnlyResolver",
}


@dataclass(frozen=True)
class ArchiveState:
    items: dict[str, tuple[str, str, int]]  # url -> headline, summary, version
    versions: frozenset[tuple[str, int, str, str]]  # url, version, headline, summary
    listed: dict[tuple[int, str], bool]  # (topic id, url) -> vanished
    changes: tuple[tuple[int, str, str], ...]  # run id, url, kind


def archive_state(db: Path) -> ArchiveState:
    items = rows(db, "SELECT url, headline, summary, version FROM items")
    versions = rows(
        db,
        "SELECT i.url, v.version, v.headline, v.summary FROM item_versions v"
        " JOIN items i ON i.id = v.item_id",
    )
    listed = rows(
        db,
        "SELECT t.topic_id, i.url, t.vanished_at IS NOT NULL FROM topic_items t"
        " JOIN items i ON i.id = t.item_id",
    )
    changes = rows(
        db,
        "SELECT c.run_id, i.url, c.kind FROM changes c JOIN items i ON i.id = c.item_id"
        " ORDER BY c.id",
    )
    return ArchiveState(
        {url: (headline, summary, version) for url, headline, summary, version in items},
        frozenset(versions),
        {(topic, url): bool(gone) for topic, url, gone in listed},
        tuple(changes),
    )


def assert_nothing_lost(
    before: ArchiveState, after: ArchiveState, expected: Counter[str] | None = None
) -> None:
    """No item, version or listing row lost or altered; only ``expected`` changes added."""
    assert before.items.keys() <= after.items.keys(), "an archived item was lost"
    changed = {url for url, state in before.items.items() if after.items[url] != state}
    assert before.versions <= after.versions, "an item version was lost"
    assert before.listed.keys() <= after.listed.keys(), "a topic lost an item"
    added = after.changes[len(before.changes) :]
    assert after.changes[: len(before.changes)] == before.changes, "a change was rewritten"
    kinds = Counter(kind for _, _, kind in added)
    assert kinds == (expected or Counter()), f"unexpected changes: {added}"
    if not kinds["edited"] + kinds["filled"] + kinds["alternating"]:
        assert not changed, f"items changed without an edit: {sorted(changed)}"
    if not kinds["vanished"]:
        flipped = [key for key, gone in after.listed.items() if gone and not before.listed.get(key)]
        assert not flipped, f"items marked vanished: {flipped}"


def assert_outcome(fault: Fault, crawl: Crawl) -> dict[str, Any] | None:
    """Exit status, and the run's status/reason/error as the matrix row states them."""
    exits = [choice.split()[0] for choice in fault.exit.split(" or ")]
    assert str(crawl.returncode) in exits, (crawl.returncode, crawl.stderr)
    if fault.run == "–":
        assert fault.error in crawl.stderr + crawl.stdout
        return None
    run = crawl.run
    allowed = [tuple(choice.partition("/")[::2]) for choice in fault.run.split(" or ")]
    assert (run["status"], run["reason"] or "") in allowed, run
    assert fault.error in (run["error"] or ""), run["error"]
    if run["status"] == "failed":
        assert "\n" not in run["error"]
    return run


def fault_env() -> dict[str, str]:
    """The crawl child's environment with tests/ importable (the local-only resolver)."""
    env = child_env()
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{TESTS}"
    return env


def crawl_argv(url: str, db: Path, *args: str, **settings: str) -> list[str]:
    """``topicwatch crawl --json`` with the fault settings (``settings`` override them)."""
    command = [sys.executable, "-m", "topicwatch", "crawl", "--url", url, "--db", str(db), "--json"]
    for name, value in {**FAULT_SETTINGS, **settings}.items():
        command += ["-s", f"{name}={value}"]
    return [*command, *args]


def fault_crawl(url: str, db: Path, *args: str, **settings: str) -> Crawl:
    """Run one fault crawl child to its end."""
    done = subprocess.run(
        crawl_argv(url, db, *args, **settings),
        capture_output=True,
        text=True,
        env=fault_env(),
        timeout=120,
    )
    return Crawl(done.returncode, done.stdout, done.stderr)


@dataclass
class Case:
    """A fault test's site and archive, and crawls with the fast fault settings."""

    site: FaultSite
    db: Path

    def crawl(self, *args: str, url: str | None = None, **settings: str) -> Crawl:
        return fault_crawl(url or self.site.topic_url(), self.db, *args, **settings)

    def state(self) -> ArchiveState:
        return archive_state(self.db)


def as_params(faults: list[Fault]) -> list[Any]:
    """Matrix rows as pytest parameters; a row with a known gap is a strict xfail."""
    return [
        pytest.param(f, id=f.id, marks=[pytest.mark.xfail(strict=True, reason=f.gap)] * bool(f.gap))
        for f in faults
    ]


def make_baseline(site: FaultSite, path: Path) -> Path:
    """One real crawl of the seed listing: the archive every case of a module starts from."""
    crawl = fault_crawl(site.topic_url(), path)
    assert crawl.returncode == 0 and crawl.run["items_new"] == 20, crawl.stderr
    return path


def copy_archive(source: Path, target: Path) -> Path:
    """Copy an archive file (its WAL too, should one be left) for one test."""
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


# Fixtures under their pytest names; test modules import the *_fixture functions.
@pytest.fixture(scope="module", name="fault_site")
def fault_site_fixture() -> Iterator[FaultSite]:
    """One fault site per test module (its port is in every archived URL)."""
    with FaultSite() as site:
        yield site


@pytest.fixture(scope="module", name="baseline")
def baseline_fixture(fault_site: FaultSite, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_baseline(fault_site, tmp_path_factory.mktemp("baseline") / "archive.db")


@pytest.fixture(name="case")
def case_fixture(fault_site: FaultSite, baseline: Path, tmp_path: Path) -> Case:
    """The seed site without faults, and a fresh copy of the baseline archive."""
    fault_site.reset()
    return Case(fault_site, copy_archive(baseline, tmp_path / "archive.db"))


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``predicate`` until truthy or fail at the deadline (never a guessed sleep)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)
    return value
