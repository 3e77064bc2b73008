"""An Atom feed of changes, for analysts who follow a topic (or a watch) in a feed reader.

Entry ids are tag URIs built from the item id and version, so an entry keeps its id
across exports and an edit arrives as a new entry (readers show it as unread) whose
content is the character diff. Nothing depends on the clock: the same archive always
exports the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlite_utils

from topicwatch.archive.change_feed import Change
from topicwatch.archive.diff import char_diff, render

ATOM = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 forbids; a scraped page can carry them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class FeedInfo:
    """The feed-level elements."""

    id: str
    title: str
    link: str
    updated: str


def feed_info(db: sqlite_utils.Database, topic_id: int | None) -> FeedInfo:
    """Id, title, link and fallback ``updated`` of the feed for one topic or all."""
    rows = db.execute(
        "SELECT name, url, created_at FROM topics WHERE ? IS NULL OR id = ? ORDER BY id",
        [topic_id, topic_id],
    ).fetchall()
    last_run = db.execute("SELECT max(finished_at) FROM crawl_runs").fetchone()[0]
    name, url, created = rows[0] if rows else ("all", "", last_run or "1970-01-01T00:00:00+00:00")
    scope = name if topic_id is not None else "all"
    title = f"topicwatch: {name}" if topic_id is not None else "topicwatch: all topics"
    return FeedInfo(
        _tag(url, created, f"feed/{scope}"),
        f"{title} (new and edited items)",
        url,
        last_run or created,
    )


def entry_id(change: Change) -> str:
    """The stable id of the entry for one item version (new, edited), or for the change
    itself (vanished, reappeared: the version stays, so the id is the change's)."""
    if change.kind in ("new", "edited"):
        specific = f"item/{change.item_id}/v{change.version}"
    else:
        specific = f"item/{change.item_id}/{change.kind}/{change.id}"
    return _tag(change.url, change.first_seen_at, specific)


def atom_feed(info: FeedInfo, changes: Sequence[Change]) -> str:
    """The feed document (UTF-8 XML text) for ``changes``, newest first."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(_q("feed"))
    _text(feed, "id", info.id)
    _text(feed, "title", info.title)
    _text(feed, "updated", max((c.at for c in changes), default=info.updated))
    if info.link:
        ET.SubElement(feed, _q("link"), rel="alternate", href=info.link)
    ET.SubElement(ET.SubElement(feed, _q("author")), _q("name")).text = "topicwatch"
    ET.SubElement(feed, _q("generator")).text = "topicwatch"
    for change in changes:
        _entry(feed, change)
    ET.indent(feed)
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"


def _entry(feed: ET.Element, change: Change) -> None:
    entry = ET.SubElement(feed, _q("entry"))
    _text(entry, "id", entry_id(change))
    _text(entry, "title", change.headline or change.url)
    _text(entry, "updated", change.at)
    if _is_datetime(change.published_at):
        _text(entry, "published", change.published_at)
    ET.SubElement(entry, _q("link"), rel="alternate", href=change.url)
    for term in (change.kind, change.topic):
        ET.SubElement(entry, _q("category"), term=term)
    _text(entry, "summary", change.summary, type="text")
    if change.kind == "edited":
        _text(entry, "content", _edit_text(change), type="text")


def _edit_text(change: Change) -> str:
    lines = [f"Edited ({', '.join(change.fields) or 'text'}), version {change.version}:"]
    lines += [f"{name}: {render(char_diff(old, new))}" for name, old, new in change.edits()]
    return "\n".join(lines)


def _tag(url: str, day: str, specific: str) -> str:
    """A tag URI (RFC 4151): the site's host, the date the archive first saw it."""
    host = urlsplit(url).hostname or "topicwatch.invalid"
    return f"tag:{host},{day[:10]}:topicwatch/{specific}"


def _is_datetime(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _q(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def _text(parent: ET.Element, name: str, text: str, **attributes: str) -> None:
    ET.SubElement(parent, _q(name), attributes).text = _NOT_XML.sub("", text)
