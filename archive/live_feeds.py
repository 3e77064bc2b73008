"""Live Atom feeds for ``topicwatch serve``: one per watch and one per topic.

The same documents as ``topicwatch export --format atom`` (archive.atom: stable tag-URI
entry ids, the character diff of an edit), computed from the archive at each request, so
a feed reader subscribes to a URL instead of an export job. A watch's feed holds what the
watch matches, as it was last registered (the ``watches`` table): ``serve`` needs no
config. Nothing depends on the clock.
"""

from __future__ import annotations

import sqlite_utils

from topicwatch.archive.atom import FeedInfo, atom_feed, feed_info
from topicwatch.archive.change_feed import list_changes
from topicwatch.archive.lookup import NotFound, find_topic
from topicwatch.archive.watches import stored_rule, watch_feed_changes

FEED_ENTRIES = 50


def watch_feed(db: sqlite_utils.Database, name: str) -> str | None:
    """The feed of the watch ``name``, or None if no such watch was registered."""
    if not db["watches"].exists():
        return None
    rule = stored_rule(db, name)
    if rule is None:
        return None
    changes = watch_feed_changes(db, rule, FEED_ENTRIES)
    every = feed_info(db, None)
    info = FeedInfo(
        id=every.id.replace("feed/all", f"watch/{name}"),
        title=f"topicwatch watch: {name} ({', '.join(rule.kinds)})",
        link=every.link,
        updated=every.updated,
    )
    return atom_feed(info, changes)


def topic_feed(db: sqlite_utils.Database, name: str) -> str | None:
    """The feed of the topic ``name`` (new and edited items, as the export), or None."""
    try:
        topic = find_topic(db, name)
    except NotFound:
        return None
    changes = list_changes(db, kinds=("new", "edited"), topic_id=topic.id, limit=FEED_ENTRIES)
    return atom_feed(feed_info(db, topic.id), changes)
