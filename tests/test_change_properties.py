"""Property tests of change detection: any sequence of listing snapshots, replayed.

A random site evolves (insertions, removals, edits that matter and edits that are only
spacing or width, reorders, blanked fields), each run reads a random number of pages of
a random size, sometimes with a lead block repeating the top item, sometimes with an
article published between its page 1 and page 2 (items shift down across the boundary).
Every run goes through the real store (:func:`archive.store.commit_run`) into SQLite, and
a reference model written from the rules' wording, not from the code, predicts it:

* each item's versions are exactly the distinct consecutive texts it was listed with
  (a blank field is "not observed" and carries the previous text);
* no archived item, version or listing row is ever lost;
* an item is vanished exactly when the run read the stretch where it stood: some page of
  the run holds an item listed above it and one listed below it last time (on the first
  page read, one below it suffices), and it is listed nowhere in the run;
* a failed run (the layout guard) changes nothing.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from archive import open_archive
from archive.changes import KnownItem, ListedItem, Sighting, classify
from archive.runs import begin_run
from archive.store import PageResult, RunReport, commit_run
from archive.text import content_hash

TOPIC = "https://example.jp/articles/tag/nato/"
ARTICLES = 12
# Variants of one text: the same to a reader (width, U+3000, spacing), a real edit, blank.
HEADLINES = ["NATO会合で合意", "ＮＡＴＯ会合で合意", "NATO 会合で\u3000合意", "NATO会合が決裂", ""]
SUMMARIES = [
    "国防相は防空網の強化で一致した。",
    "国防相は 防空網の強化で一致した。",
    "国防相は合意を見送った。",
    "",
]
START = datetime(2026, 2, 1, tzinfo=UTC)


def url(article: int) -> str:
    return f"https://example.jp/articles/a{article}/"


@dataclass
class Card:
    article: int
    headline: str
    summary: str


@dataclass
class Model:
    """What the archive must hold, kept by the rules' wording."""

    versions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)  # last position, listed items
    vanished: set[str] = field(default_factory=set)
    last_run: set[str] = field(default_factory=set)  # urls the previous ok run listed
    first_page_counts: list[int] = field(default_factory=list)  # of ok runs


# --------------------------------------------------------------------------- generation


def evolve(data: st.DataObject, listing: list[Card]) -> list[Card]:
    """Apply 0–4 random site operations to a listing."""
    listing = list(listing)
    for _ in range(data.draw(st.integers(0, 4))):
        free = sorted(set(range(ARTICLES)) - {card.article for card in listing})
        operation = data.draw(st.sampled_from(["insert", "remove", "edit", "move"]))
        if operation == "insert" and free:
            where = data.draw(st.integers(0, len(listing)))
            listing.insert(where, new_card(data, data.draw(st.sampled_from(free))))
        elif operation == "remove" and listing:
            listing.pop(data.draw(st.integers(0, len(listing) - 1)))
        elif operation == "edit" and listing:
            index = data.draw(st.integers(0, len(listing) - 1))
            listing[index] = new_card(data, listing[index].article)
        elif operation == "move" and len(listing) > 1:
            card = listing.pop(data.draw(st.integers(0, len(listing) - 1)))
            listing.insert(data.draw(st.integers(0, len(listing))), card)
    return listing


def new_card(data: st.DataObject, article: int) -> Card:
    return Card(
        article, data.draw(st.sampled_from(HEADLINES)), data.draw(st.sampled_from(SUMMARIES))
    )


def read_run(data: st.DataObject, listing: list[Card]) -> tuple[list[list[Card]], list[Card]]:
    """The pages one run reads (and the site's listing after it, if it changed mid-run)."""
    size = data.draw(st.integers(1, 4), label="page size")
    pages: list[list[Card]] = []
    for page in range(data.draw(st.integers(1, 4), label="pages read")):
        free = sorted(set(range(ARTICLES)) - {card.article for card in listing})
        if page == 1 and free and data.draw(st.booleans(), label="published mid-run"):
            listing = [new_card(data, free[0]), *listing]  # page 2 is read after it
        chunk = listing[page * size : (page + 1) * size]
        if not chunk and pages:
            break
        if page == 0 and chunk and data.draw(st.booleans(), label="lead block"):
            chunk = [chunk[0], *chunk]
        pages.append(chunk)
    return pages, listing


# --------------------------------------------------------------------------- the model


def expected_run(model: Model, pages: list[list[Card]]) -> dict[str, set[str]]:
    """The changes a successful run must record, by kind; updates the model."""
    first: dict[str, tuple[Card, int, int]] = {}  # url -> card, position, page (first seen)
    position = 0
    for page, cards in enumerate(pages, start=1):
        for card in cards:
            position += 1
            first.setdefault(url(card.article), (card, position, page))
    changes: dict[str, set[str]] = {"new": set(), "edited": set(), "vanished": set()}
    changes["reappeared"] = model.vanished & set(first)
    # Only the previous run's positions are comparable with this run's (stale ones are not).
    listed = {
        u: p for u, p in model.position.items() if u not in model.vanished and u in model.last_run
    }
    for u in listed.keys() - first.keys():
        if evidence(u, listed, first):
            changes["vanished"].add(u)
    for u, (card, _, _) in first.items():
        if u not in model.versions:
            changes["new"].add(u)
            model.versions[u] = [(card.headline, card.summary)]
            continue
        old = model.versions[u][-1]
        merged = (card.headline or old[0], card.summary or old[1])
        if content_hash(*merged) != content_hash(*old):
            changes["edited"].add(u)
            model.versions[u].append(merged)
    model.position.update({u: p for u, (_, p, _) in first.items()})
    model.vanished = (model.vanished - set(first)) | changes["vanished"]
    model.last_run = set(first)
    return changes


def evidence(u: str, listed: dict[str, int], first: dict[str, tuple[Card, int, int]]) -> bool:
    """Some page read holds an item listed above ``u`` and one below it last time (on the
    first page read, one below suffices)."""
    first_page = min(page for _, _, page in first.values())
    for page in {page for _, _, page in first.values()}:
        around = [listed[v] for v, (_, _, p) in first.items() if p == page and v in listed]
        above = page == first_page or any(at < listed[u] for at in around)
        if above and any(at > listed[u] for at in around):
            return True
    return False


def layout_fails(model: Model, first_page_items: int) -> bool:
    recent = model.first_page_counts[-10:]
    return first_page_items == 0 or bool(
        recent and first_page_items < 0.5 * statistics.median(recent)
    )


# --------------------------------------------------------------------------- the archive


def archived(db: sqlite_utils.Database) -> tuple[object, ...]:
    versions: dict[str, list[tuple[str, str]]] = {}
    for u, headline, summary in db.execute(
        "SELECT i.url, v.headline, v.summary FROM item_versions v JOIN items i"
        " ON i.id = v.item_id ORDER BY i.url, v.version"
    ):
        versions.setdefault(u, []).append((headline, summary))
    listed = {
        u: (position, bool(gone))
        for u, position, gone in db.execute(
            "SELECT i.url, t.last_position, t.vanished_at IS NOT NULL FROM topic_items t"
            " JOIN items i ON i.id = t.item_id"
        )
    }
    changes = db.execute("SELECT count(*) FROM changes").fetchone()[0]
    return versions, listed, changes


def run_changes(db: sqlite_utils.Database, run_id: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"new": set(), "edited": set(), "vanished": set()}
    found["reappeared"] = set()
    for kind, u in db.execute(
        "SELECT c.kind, i.url FROM changes c JOIN items i ON i.id = c.item_id WHERE c.run_id = ?",
        [run_id],
    ):
        found[kind].add(u)
    return found


def commit(db: sqlite_utils.Database, pages: list[list[Card]], at: datetime) -> tuple[int, str]:
    run_id = begin_run(db, topic="nato", url=TOPIC, trigger="schedule", started_at=at, pid=1)
    results = tuple(
        PageResult(
            f"{TOPIC}page/{page}/",
            page,
            sightings=tuple(
                Sighting(url(c.article), c.headline, c.summary, "", 0, page) for c in cards
            ),
        )
        for page, cards in enumerate(pages, start=1)
    )
    return run_id, commit_run(db, run_id, RunReport(results), at).status


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty archive, copied for each example (migrations cost more than runs)."""
    path = tmp_path_factory.mktemp("template") / "archive.db"
    open_archive(path).close()
    return path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_replaying_snapshots_keeps_exactly_the_distinct_texts_and_vanishes_with_evidence(
    template, data
):
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "archive.db"
        shutil.copyfile(template, path)
        db = open_archive(path)
        try:
            replay(db, data)
        finally:
            db.close()


def replay(db: sqlite_utils.Database, data: st.DataObject) -> None:
    model = Model()
    first = data.draw(st.lists(st.integers(0, ARTICLES - 1), min_size=3, max_size=9, unique=True))
    listing = [new_card(data, article) for article in first]
    for run in range(data.draw(st.integers(2, 7), label="runs")):
        listing = evolve(data, listing)
        pages, listing = read_run(data, listing)
        before = archived(db)
        run_id, status = commit(db, pages, START + timedelta(hours=run))
        if layout_fails(model, len(pages[0])):
            event("a run failed by the layout guard")
            assert status == "failed"
            assert archived(db) == before  # a failed run changes nothing
            continue
        assert status == "ok"
        model.first_page_counts.append(len(pages[0]))
        expected = expected_run(model, pages)
        for kind, urls in expected.items():
            event(f"a run with {kind} items" if urls else f"a run without {kind} items")
        assert run_changes(db, run_id) == expected
        versions, listed, _ = archived(db)  # type: ignore[misc]
        assert versions == model.versions  # the distinct consecutive texts, nothing else
        assert {u for u, (_, gone) in listed.items() if gone} == model.vanished
        assert {u: p for u, (p, _) in listed.items()} == model.position
        old_versions, old_listed, _ = before  # type: ignore[misc]
        assert all(versions[u][: len(v)] == v for u, v in old_versions.items())  # none lost
        assert old_listed.keys() <= listed.keys()


# --------------------------------------------------------------------------- classify alone

sightings = st.lists(
    st.builds(
        Sighting,
        st.sampled_from([url(n) for n in range(8)]),
        st.sampled_from(HEADLINES),
        st.sampled_from(SUMMARIES),
        st.just(""),
        st.integers(1, 20),
        st.integers(1, 3),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    seen=sightings,
    known_urls=st.sets(st.integers(0, 7)),
    listed_urls=st.dictionaries(st.integers(0, 7), st.tuples(st.integers(1, 20), st.booleans())),
)
def test_classify_partitions_the_run_and_never_vanishes_what_it_saw(seen, known_urls, listed_urls):
    known = {
        url(n): KnownItem(
            n, url(n), HEADLINES[0], SUMMARIES[0], content_hash(HEADLINES[0], SUMMARIES[0])
        )
        for n in known_urls
    }
    listed = [ListedItem(n, url(n), pos, gone) for n, (pos, gone) in listed_urls.items()]
    result = classify(seen, known, listed)
    unique = list(dict.fromkeys(s.url for s in seen))
    parts = [s.url for s in result.new] + [e.known.url for e in result.edited]
    parts += [s.url for s in result.unchanged]
    assert sorted(parts) == sorted(unique)  # every URL once, in exactly one class
    assert {s.url for s in result.new} == set(unique) - set(known)
    assert not {i.url for i in result.vanished} & set(unique)
    assert all(not i.vanished for i in result.vanished)
    assert {i.url for i in result.reappeared} == {i.url for i in listed if i.vanished} & set(unique)
    for edit in result.edited:
        assert edit.fields and content_hash(edit.headline, edit.summary) != edit.known.content_hash
