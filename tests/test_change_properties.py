"""Property tests of change detection: any sequence of listing snapshots, replayed.

A random site evolves (insertions, removals, edits that matter and edits that are only
spacing or width, edits back to an earlier text, reorders — items moving up and down —,
blanked fields), each run reads a random number of pages of a random size, sometimes with
a lead block repeating the top item, sometimes with an article published between its
page 1 and page 2 (items shift down across the boundary), sometimes stopping early on a
page that could not be read (a partial run), at times a clock set back or days apart.
Every run goes through the real store (:func:`archive.store.commit_run`) into SQLite, and
a reference model written from the rules' wording, not from the code, predicts it:

* each item's versions are the distinct texts it was listed with: a blank field is "not
  observed" and carries the previous text; a text equal to one of the item's five latest
  other versions is a *return* (no version; the item shows that version again; the
  first return since its last edit is marked ``alternating``); a change of fields never
  observed before is ``filled``, any other ``edited``;
* no archived item, version or listing row is ever lost;
* an item of the previous run's listing is vanished exactly when it is listed nowhere in
  the run, the run read to its end (a partial run judges none), and its nearest
  neighbours in that listing among the items that kept their order (the largest such
  set; among equals the one listed highest) — the one above (or the top of the listing)
  and the one below — stand on one page of the run;
* a failed run (the layout guard) changes nothing: page 1 empty or under half the usual
  count; or, against a previous listing of 3+ items, a run that keeps fewer than 3 of them
  in their order, read to its end (not stopped by the page limit or an unreadable page),
  less than a day after the previous run (no dates to judge the pace by);
* the order of runs is their sequence: times are recorded as given, whatever the clock.
"""

from __future__ import annotations

import itertools
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

from topicwatch.archive import open_archive
from topicwatch.archive.changes import KnownItem, ListedItem, Sighting, classify
from topicwatch.archive.runs import begin_run
from topicwatch.archive.store import PageResult, RunReport, commit_run
from topicwatch.archive.text import comparison_key, content_hash

TOPIC = "https://example.jp/articles/tag/nato/"
ARTICLES = 12
RECENT = 5  # a text equal to one of an item's last five other versions is a return


def headlines(n: int) -> list[str]:
    """One article's headline variants: the same to a reader (width, U+3000, spacing),
    a real edit, blank. Each article's are its own: two articles never share a text."""
    return [f"NATO会合{n}で合意", f"ＮＡＴＯ会合{n}で合意", f"NATO 会合{n}で\u3000合意",
            f"NATO会合{n}が決裂", ""]  # fmt: skip


def summaries(n: int) -> list[str]:
    return [f"国防相{n}は防空網の強化で一致した。", f"国防相{n}は 防空網の強化で一致した。",
            f"国防相{n}は合意を見送った。", ""]  # fmt: skip


HEADLINES = headlines(0)
SUMMARIES = summaries(0)
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
    current: dict[str, int] = field(default_factory=dict)  # index of the version shown
    marked: set[str] = field(default_factory=set)  # marked alternating since last edit
    position: dict[str, int] = field(default_factory=dict)  # last position, listed items
    vanished: set[str] = field(default_factory=set)
    last_run: set[str] = field(default_factory=set)  # urls the previous ok run listed
    last_ok_at: datetime | None = None
    first_page_counts: list[int] = field(default_factory=list)  # of ok runs


# --------------------------------------------------------------------------- generation


def evolve(data: st.DataObject, listing: list[Card]) -> list[Card]:
    """Apply 0–4 random site operations to a listing."""
    listing = list(listing)
    for _ in range(data.draw(st.integers(0, 4))):
        free = sorted(set(range(ARTICLES)) - {card.article for card in listing})
        operation = data.draw(st.sampled_from(["insert", "remove", "edit", "move", "flip"]))
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
        elif operation == "flip" and listing:  # an A/B test: the headline and back again
            card = listing[data.draw(st.integers(0, len(listing) - 1))]
            a, b = headlines(card.article)[0], headlines(card.article)[3]
            card.headline = b if card.headline == a else a
    return listing


def new_card(data: st.DataObject, article: int) -> Card:
    return Card(
        article,
        data.draw(st.sampled_from(headlines(article))),
        data.draw(st.sampled_from(summaries(article))),
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


def run_time(data: st.DataObject, previous: datetime) -> datetime:
    """An hour on, or days on, or a clock set back (a stale board clock, a VM restored)."""
    step = data.draw(st.sampled_from([1, 1, 1, 1, 50, -30]), label="hours since last run")
    return previous + timedelta(hours=step)


# --------------------------------------------------------------------------- the model


def run_listing(pages: list[list[Card]]) -> dict[str, tuple[Card, int, int]]:
    """url -> card, position, page at its first sighting in the run, in listing order."""
    first: dict[str, tuple[Card, int, int]] = {}
    position = 0
    for page, cards in enumerate(pages, start=1):
        for card in cards:
            position += 1
            first.setdefault(url(card.article), (card, position, page))
    return first


def expected_run(
    model: Model, pages: list[list[Card]], at: datetime, partial: bool
) -> dict[str, set[str]]:
    """The changes a successful run must record, by kind; updates the model."""
    first = run_listing(pages)
    changes: dict[str, set[str]] = {kind: set() for kind in KINDS}
    changes["reappeared"] = model.vanished & set(first)
    previous = previous_listing(model)
    for u in previous:
        if not partial and u not in first and evidence(u, previous, first):
            changes["vanished"].add(u)
    for u, (card, _, _) in first.items():
        if u not in model.versions:
            changes["new"].add(u)
            model.versions[u] = [(card.headline, card.summary)]
            model.current[u] = 0
            model.marked.discard(u)
            continue
        kind = observe(model, u, card)
        if kind:
            changes[kind].add(u)
    model.position.update({u: p for u, (_, p, _) in first.items()})
    model.vanished = (model.vanished - set(first)) | changes["vanished"]
    model.last_run = set(first)
    model.last_ok_at = at
    return changes


def observe(model: Model, u: str, card: Card) -> str:
    """Apply one sighting of a known item to the model; return the change kind, or ""."""
    old = model.versions[u][model.current[u]]
    merged = (card.headline or old[0], card.summary or old[1])
    changed = [
        o for o, n in zip(old, merged, strict=True) if comparison_key(o) != comparison_key(n)
    ]
    if not changed:
        return ""
    others = [i for i in range(len(model.versions[u])) if i != model.current[u]][::-1][:RECENT]
    back = next(
        (i for i in others if content_hash(*model.versions[u][i]) == content_hash(*merged)), None
    )
    if back is not None:
        model.current[u] = back
        if u in model.marked:
            return ""
        model.marked.add(u)
        return "alternating"
    model.versions[u].append(merged)
    model.current[u] = len(model.versions[u]) - 1
    model.marked.discard(u)
    return "filled" if all(not comparison_key(o) for o in changed) else "edited"


def previous_listing(model: Model) -> list[str]:
    """The previous ok run's listing, in its order (vanished items are not listed)."""
    listed = [u for u in model.last_run if u not in model.vanished]
    return sorted(listed, key=model.position.__getitem__)


def kept(previous: list[str], first: dict[str, tuple[Card, int, int]]) -> list[str]:
    """The items that kept their order: the largest set of previously listed items this
    run lists in the same order; among equals, the one whose items were listed highest
    (compared item by item from the top). By brute force: the model's lists are small."""
    common = [u for u in previous if u in first]
    best: list[str] = []
    for mask in range(1 << len(common)):
        chosen = [u for bit, u in enumerate(common) if mask >> bit & 1]
        if any(first[a][1] > first[b][1] for a, b in itertools.pairwise(chosen)):
            continue
        rank = [previous.index(u) for u in chosen]
        if len(chosen) > len(best) or (
            len(chosen) == len(best) and rank < [previous.index(u) for u in best]
        ):
            best = chosen
    return best


def evidence(u: str, previous: list[str], first: dict[str, tuple[Card, int, int]]) -> bool:
    """Its nearest neighbours in the previous listing among the items that kept their
    order — above (or the top of the listing) and below — stand on one page of the run."""
    steady = kept(previous, first)
    index = previous.index(u)
    above = next((v for v in reversed(previous[:index]) if v in steady), None)
    below = next((v for v in previous[index + 1 :] if v in steady), None)
    if below is None:
        return False
    first_page = min(page for _, _, page in first.values())
    above_page = first[above][2] if above is not None else first_page
    return above_page == first[below][2]


def layout_fails(model: Model, pages: list[list[Card]], at: datetime, stopped: bool) -> bool:
    recent = model.first_page_counts[-10:]
    if not pages[0] or (recent and len(pages[0]) < 0.5 * statistics.median(recent)):
        return True
    previous = previous_listing(model)
    if len(previous) < 3 or len(kept(previous, run_listing(pages))) >= 3:
        return False
    elapsed = (at - model.last_ok_at).total_seconds() if model.last_ok_at else 0.0
    return not stopped and max(0.0, elapsed) < 86_400


KINDS = ("new", "edited", "filled", "alternating", "vanished", "reappeared")


# --------------------------------------------------------------------------- the archive


def archived(db: sqlite_utils.Database) -> tuple[object, ...]:
    versions: dict[str, list[tuple[str, str]]] = {}
    for u, headline, summary in db.execute(
        "SELECT i.url, v.headline, v.summary FROM item_versions v JOIN items i"
        " ON i.id = v.item_id ORDER BY i.url, v.version"
    ):
        versions.setdefault(u, []).append((headline, summary))
    current = {
        u: (headline, summary)
        for u, headline, summary in db.execute("SELECT url, headline, summary FROM items")
    }
    listed = {
        u: (position, bool(gone))
        for u, position, gone in db.execute(
            "SELECT i.url, t.last_position, t.vanished_at IS NOT NULL FROM topic_items t"
            " JOIN items i ON i.id = t.item_id"
        )
    }
    changes = db.execute("SELECT count(*) FROM changes").fetchone()[0]
    return versions, current, listed, changes


def run_changes(db: sqlite_utils.Database, run_id: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for kind, u in db.execute(
        "SELECT c.kind, i.url FROM changes c JOIN items i ON i.id = c.item_id WHERE c.run_id = ?",
        [run_id],
    ):
        found[kind].add(u)
    return found


def commit(
    db: sqlite_utils.Database, pages: list[list[Card]], at: datetime, partial: bool, limit: bool
) -> tuple[int, str]:
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
    why = f"page {len(pages) + 1} refused by robots.txt" if partial else ""
    report = RunReport(results, gap_suspected=limit, partial=why)
    return run_id, commit_run(db, run_id, report, at).status


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty archive, copied for each example (migrations cost more than runs)."""
    path = tmp_path_factory.mktemp("template") / "archive.db"
    open_archive(path).close()
    return path


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    at = START
    for _ in range(data.draw(st.integers(2, 7), label="runs")):
        listing = evolve(data, listing)
        pages, listing = read_run(data, listing)
        at = run_time(data, at)
        partial = data.draw(st.booleans(), label="a later page could not be read")
        limit = data.draw(st.booleans(), label="stopped at the page limit")
        before = archived(db)
        run_id, status = commit(db, pages, at, partial, limit)
        if layout_fails(model, pages, at, stopped=partial or limit):
            event("a run failed by the layout guard")
            assert status == "failed"
            assert archived(db) == before  # a failed run changes nothing
            continue
        assert status == "ok"
        model.first_page_counts.append(len(pages[0]))
        expected = expected_run(model, pages, at, partial)
        for kind, urls in expected.items():
            event(f"a run with {kind} items" if urls else f"a run without {kind} items")
        assert run_changes(db, run_id) == expected
        versions, current, listed, _ = archived(db)  # type: ignore[misc]
        assert versions == model.versions  # the distinct texts, nothing else
        assert current == {u: v[model.current[u]] for u, v in model.versions.items()}
        assert {u for u, (_, gone) in listed.items() if gone} == model.vanished
        assert {u: p for u, (p, _) in listed.items()} == model.position
        row = db.execute(
            "SELECT started_at, gap_suspected, reason FROM crawl_runs WHERE id = ?", [run_id]
        ).fetchone()
        assert row == (at.isoformat(), int(partial or limit), "partial" if partial else None)
        old_versions, _, old_listed, _ = before  # type: ignore[misc]
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
