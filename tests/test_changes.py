"""Change classification as pure functions: new, edited, filled, alternating, vanished,
reappeared, identity (drift, canonical claims) and the layout guard's continuity rules."""

from __future__ import annotations

from topicwatch.archive.changes import (
    KnownItem,
    ListedItem,
    Sighting,
    accepted_aliases,
    classify,
    compare_text,
    continuity,
    dedupe,
    identity_drift,
    kept_in_order,
    settle_returns,
    vanished_items,
)
from topicwatch.archive.layout_guard import Pace, confirmed, continuity_failure
from topicwatch.archive.text import comparison_key, content_hash, is_mojibake_of, normalise


def sight(url: str, position: int, page: int = 1, headline: str = "h", summary: str = "s"):
    return Sighting(url, headline, summary, "", position, page)


def known(url: str, item_id: int, headline: str = "h", summary: str = "s") -> KnownItem:
    return KnownItem(item_id, url, headline, summary, content_hash(headline, summary))


def listed(urls: list[str], vanished: set[str] = frozenset()) -> list[ListedItem]:
    return [ListedItem(i, url, i, url in vanished) for i, url in enumerate(urls, start=1)]


def archive_of(urls: list[str]) -> dict[str, KnownItem]:
    return {url: known(url, i) for i, url in enumerate(urls, start=1)}


def test_normalise_folds_width_and_all_whitespace():
    assert normalise("ＮＡＴＯ\u3000 事務総長\n") == "NATO 事務総長"
    assert comparison_key("英国、 欧州\u3000") == comparison_key("英国、欧州")


def test_unknown_url_is_new():
    result = classify([sight("a", 1)], {}, [])
    assert [s.url for s in result.new] == ["a"]


def test_same_text_is_unchanged():
    result = classify([sight("a", 1)], archive_of(["a"]), listed(["a"]))
    assert [s.url for s in result.unchanged] == ["a"]
    assert not result.edited


def test_edit_names_the_changed_field():
    edit = compare_text(known("a", 1, "old", "s"), sight("a", 1, headline="new"))
    assert edit is not None
    assert (edit.headline, edit.summary, edit.fields) == ("new", "s", ("headline",))


def test_a_field_missing_from_the_listing_is_not_an_edit():
    assert compare_text(known("a", 1, "h", "summary"), sight("a", 1, summary="")) is None


def test_missing_field_is_carried_into_an_edit_of_the_other():
    edit = compare_text(known("a", 1, "h", "summary"), sight("a", 1, headline="h2", summary=""))
    assert edit is not None and edit.summary == "summary"


def test_repeated_url_on_a_page_is_one_item():
    sightings = [sight("a", 1), sight("a", 2), sight("b", 3)]
    assert [s.url for s in dedupe(sightings)] == ["a", "b"]
    assert len(classify(sightings, {}, []).new) == 2


def test_absent_item_between_present_ones_is_vanished():
    urls = ["a", "b", "c"]
    result = classify([sight("a", 1), sight("c", 2)], archive_of(urls), listed(urls))
    assert [i.url for i in result.vanished] == ["b"]


def test_absent_top_item_with_items_below_on_first_page_is_vanished():
    urls = ["a", "b", "c"]
    result = classify([sight("b", 1), sight("c", 2)], archive_of(urls), listed(urls))
    assert [i.url for i in result.vanished] == ["a"]


def test_items_that_scrolled_past_the_last_page_read_are_not_vanished():
    urls = ["a", "b", "c"]
    sightings = [sight("new1", 1), sight("new2", 2), sight("a", 3)]
    result = classify(sightings, archive_of(urls), listed(urls))
    assert result.vanished == []


def test_an_item_lost_at_a_page_boundary_is_not_vanished():
    # Page 1 was read before an item above moved; "c" slid from page 2 to page 1 unseen.
    urls = ["a", "b", "c", "d", "e"]
    sightings = [sight("a", 1, 1), sight("b", 2, 1), sight("d", 3, 2), sight("e", 4, 2)]
    result = classify(sightings, archive_of(urls), listed(urls))
    assert result.vanished == []


def test_vanished_item_listed_again_is_reappeared_not_new():
    urls = ["a", "b"]
    result = classify(
        [sight("a", 1), sight("b", 2)], archive_of(urls), listed(urls, vanished={"b"})
    )
    assert [i.url for i in result.reappeared] == ["b"]
    assert result.new == [] and result.vanished == []


def test_already_vanished_items_are_not_vanished_twice():
    urls = ["a", "b", "c"]
    result = classify(
        [sight("a", 1), sight("c", 2)], archive_of(urls), listed(urls, vanished={"b"})
    )
    assert result.vanished == []


# ---------------------------------------------------------------- moves


def test_an_old_item_moved_to_the_top_vanishes_nothing_it_passed():
    urls = [f"i{n}" for n in range(1, 41)]  # 40 items, two pages of 20
    page_one = ["i40", *urls[:19]]  # i40 bumped to the top; i20..i39 pushed to page 2
    result = classify([sight(u, n) for n, u in enumerate(page_one, 1)], archive_of(urls),
                      listed(urls))  # fmt: skip
    assert result.vanished == []


def test_a_retraction_next_to_a_moved_item_is_still_seen():
    urls = ["a", "b", "c", "d", "e"]
    result = classify([sight(u, n) for n, u in enumerate(["e", "a", "b", "d"], 1)],
                      archive_of(urls), listed(urls))  # fmt: skip
    assert [i.url for i in result.vanished] == ["c"]


def test_an_absent_item_whose_neighbours_swapped_is_not_judged():
    urls = ["a", "b", "c"]
    result = classify([sight("c", 1), sight("a", 2)], archive_of(urls), listed(urls))
    assert result.vanished == []


def test_the_pages_read_bound_what_is_judged():
    urls = ["a", "b", "c", "d"]
    sightings = [sight("a", 1, page=1), sight("c", 2, page=1)]  # page 2 unread (partial)
    assert [i.url for i in vanished_items(sightings, listed(urls))] == ["b"]


# ---------------------------------------------------------------- filled, alternating


def test_a_field_seen_for_the_first_time_is_filled_not_edited():
    edit = compare_text(known("a", 1, "", "s"), sight("a", 1, headline="見出し"))
    assert edit is not None and (edit.kind, edit.fields) == ("filled", ("headline",))
    edit = compare_text(known("a", 1, "", "s"), sight("a", 1, headline="見出し", summary="t"))
    assert edit is not None and edit.kind == "edited"


def test_a_return_to_a_recent_version_is_no_edit_and_marked_once():
    item = known("a", 1, "B", "s")
    recent = {1: [(1, content_hash("A", "s"))]}
    first = settle_returns(classify([sight("a", 1, headline="A")], {"a": item}, []), recent, [])
    assert first.edited == [] and [(r.version, r.mark) for r in first.returned] == [(1, True)]
    again = settle_returns(classify([sight("a", 1, headline="A")], {"a": item}, []), recent, [1])
    assert [(r.version, r.mark) for r in again.returned] == [(1, False)]
    other = settle_returns(classify([sight("a", 1, headline="C")], {"a": item}, []), recent, [])
    assert [e.headline for e in other.edited] == ["C"] and other.returned == []


def test_mojibake_of_the_known_text_is_not_observed():
    text = "スターリンクで米国"
    garbled = text.encode("utf-8").decode("cp932")
    assert compare_text(known("a", 1, text, "s"), sight("a", 1, headline=garbled)) is None
    assert is_mojibake_of(garbled, text) and not is_mojibake_of("スターリンクで英国", text)


# ---------------------------------------------------------------- identity


def test_new_urls_with_the_listed_texts_are_identity_drift():
    absent = {f"u{n}": known(f"u{n}", n, f"h{n}", f"s{n}") for n in range(5)}
    new = [Sighting(f"u{n}?sid=x", f"h{n}", f"s{n}", "", n, 1) for n in range(5)]
    assert identity_drift(new, 5, absent) == {f"u{n}?sid=x": f"u{n}" for n in range(5)}
    assert identity_drift(new[:2], 2, absent) == {}  # two may share a text by chance
    assert identity_drift(new, 20, absent) == {}  # most of the run is not new


def test_a_canonical_claim_the_listing_contradicts_is_ignored():
    cards = {"new": sight("new", 1, headline="新しい記事"), "old": sight("old", 2)}
    items = {"old": known("old", 1), "other": known("other", 2)}
    accepted, ignored = accepted_aliases({"new": "old"}, cards, items)
    assert (accepted, ignored) == ({}, {"new": "old"})  # both listed, different texts
    twin = {"amp": sight("amp", 1), "old": sight("old", 2)}
    assert accepted_aliases({"amp": "old"}, twin, items) == ({"amp": "old"}, {})
    alone = {"new": sight("new", 1, headline="新しい記事")}
    assert accepted_aliases({"new": "old"}, alone, items)[1] == {"new": "old"}  # known, differs
    assert accepted_aliases({"old": "other"}, {}, items)[1] == {"old": "other"}  # no merges


# ---------------------------------------------------------------- the layout guard


def test_a_list_keeping_too_few_of_the_last_listing_in_order_is_refused():
    urls = [f"k{n}" for n in range(10)]
    widget = [sight("w1", 1), sight("k0", 2), sight("w2", 3), sight("k1", 4)]
    widget += [sight(f"w{n}", n + 2) for n in range(3, 9)]
    shape = continuity(widget, listed(urls), (), stopped_looking=False)
    assert shape.kept_in_order == 2
    assert continuity_failure(shape, Pace((), 60.0)) is not None
    burst = [sight(f"n{n}", n) for n in range(1, 9)] + [sight(f"k{n}", 9 + n) for n in range(3)]
    shape = continuity(burst, listed(urls), (), stopped_looking=False)
    assert continuity_failure(shape, Pace((), 60.0)) is None  # new on top, then the old list
    assert not confirmed(2, 10) and confirmed(3, 10) and confirmed(0, 2)


def test_a_listing_sharing_nothing_is_refused_unless_something_explains_it():
    urls = ["k1", "k2", "k3"]
    run = [sight(f"w{n}", n) for n in range(1, 6)]
    dates = ("2026-02-01T00:00:00+09:00", "2026-02-02T00:00:00+09:00", "2026-02-03T00:00:00+09:00")
    shape = continuity(run, listed(urls), (), stopped_looking=False)
    assert continuity_failure(shape, Pace(dates, 3600.0)) is not None  # 3 items took 2 days
    assert continuity_failure(shape, Pace(dates, 4 * 86_400.0)) is None  # the pace explains it
    stopped = continuity(run, listed(urls), (), stopped_looking=True)
    assert continuity_failure(stopped, Pace(dates, 3600.0)) is None  # it had not read it all
    newer = continuity(run, listed(urls), ("2026-02-04T00:00:00+09:00",) * 5, False)
    assert continuity_failure(newer, Pace(dates, 3600.0)) is None  # all published since


def test_a_retraction_beside_an_item_bumped_to_the_top_is_recorded():
    urls = [f"i{n}" for n in range(1, 41)]
    page_one = ["i7", "i1", "i2", "i3", "i4", "i5", *urls[7:21]]  # i6 gone, i7 bumped
    result = classify([sight(u, n) for n, u in enumerate(page_one, 1)], archive_of(urls),
                      listed(urls))  # fmt: skip
    assert [i.url for i in result.vanished] == ["i6"]


def test_an_item_moved_into_the_middle_of_page_one_vanishes_nothing():
    urls = [f"i{n}" for n in range(1, 41)]
    page_one = [*urls[:10], "i30", *urls[10:18]]  # i30 bumped mid-page; i19.. pushed down
    result = classify([sight(u, n) for n, u in enumerate(page_one, 1)], archive_of(urls),
                      listed(urls))  # fmt: skip
    assert result.vanished == []


def test_kept_in_order_prefers_the_items_listed_highest():
    where = {"a": (1, 1), "b": (0, 1), "c": (2, 1)}
    assert kept_in_order(["a", "b", "c"], where) == {"a", "c"}
    assert kept_in_order(["b", "a"], {"a": (0, 1), "b": (1, 1)}) == {"b"}


def test_cards_claiming_one_canonical_with_different_texts_merge_nothing():
    cards = {u: sight(u, n, headline=f"記事{n}") for n, u in enumerate(["a", "b", "c"], 1)}
    claims = {"a": "x", "b": "x", "c": "x"}
    assert accepted_aliases(claims, cards, {}) == ({}, claims)
