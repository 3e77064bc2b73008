"""Change classification as pure functions: new, edited, vanished, reappeared."""

from __future__ import annotations

from archive.changes import KnownItem, ListedItem, Sighting, classify, compare_text, dedupe
from archive.text import comparison_key, content_hash, normalise


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
