"""The archive's own words for its schema: every table, view and column, described once.

Analysts meet the schema in two places, Datasette's column help and docs/schema.md; both
are generated from :data:`TABLES` so that neither can drift from the other or from the
schema (tests/test_query_docs.py compares :data:`TABLES` with a fresh archive's columns
and docs/schema.md with :func:`render_markdown`). The archive owns these words because
it owns the schema: a migration that adds a column adds its description here.

``python -m topicwatch.archive.descriptions`` rewrites docs/schema.md's tables section.
"""

from __future__ import annotations

import sys
from pathlib import Path

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "topics": (
        "Topic listings the archive follows; the URL is the identity.",
        {
            "id": "Topic id.",
            "name": "Operator's label (default: the URL's last path segment, e.g. nato).",
            "url": "Canonical URL of page 1 of the listing.",
            "created_at": "When the first run of the topic started (UTC).",
            "retired_at": "When the operator retired it (`topicwatch topics retire`): out of"
            " status and gaps, history kept; NULL while active. A new crawl makes it active.",
        },
    ),
    "crawl_runs": (
        "One row per crawl of a topic, from its first moment; a run's outcome is its row.",
        {
            "id": "Run id; increases with time.",
            "topic": "Topic name at the time of the run.",
            "topic_id": "The topic (topics.id).",
            "url": "Listing URL crawled.",
            "trigger": "manual (topicwatch crawl) or schedule (the daemon).",
            "started_at": "Start (UTC).",
            "finished_at": "End (UTC); every item change of the run carries this time.",
            "status": "running, ok, failed or aborted. Only ok runs change items.",
            "pages": "Listing pages fetched.",
            "pages_not_modified": "Pages found unchanged, their items re-used: answered 304"
            " Not Modified, or the very body last parsed, to be read the same way.",
            "items_seen": "Distinct items on the pages read.",
            "items_new": "Items never archived before.",
            "items_edited": "Items whose headline or summary changed.",
            "items_filled": "Items given a field never observed before (not an edit).",
            "items_vanished": "Items missing from a stretch of the listing the run read.",
            "items_reappeared": "Vanished items listed again.",
            "first_page_items": "Cards parsed on page 1 (NULL when page 1 was unchanged).",
            "headline_coverage": "Share of cards that had a headline.",
            "summary_coverage": "Share of cards that had a summary.",
            "date_coverage": "Share of cards that had a publication date.",
            "gap_suspected": "1 when the page limit came before any archived item, or the"
            " run read only part of the listing (reason partial).",
            "reason": "Why a run failed or aborted (layout, http, crash, ...); partial for an"
            " ok run that could not read a later page.",
            "error": "One-line error message (for a partial run: which page, and why).",
            "pid": "Process id of the crawl.",
            "articles_fetched": "Article pages fetched to enrich cards.",
            "articles_failed": "Article pages that could not be fetched.",
            "articles_pending": "The topic's listed items whose article page is still to be"
            " read (enrichment has a budget per run; later runs read the rest).",
            "fields_cleaned": "Card fields dropped, cleaned or truncated by extraction.",
            "extractor_version": "Version of the extraction rules used.",
            "mode": "crawl, or reparse (versions re-extracted from stored snapshots).",
        },
    ),
    "items": (
        "One row per article URL: its latest text and when it was seen.",
        {
            "id": "Item id (topicwatch history ID).",
            "url": "Canonical article URL.",
            "headline": "Latest headline, as published.",
            "summary": "Latest summary, as published.",
            "published_at": "Publication time shown by the site (ISO 8601; '' if unknown);"
            " the most precise one observed (listing or article page).",
            "published_precision": "How precise published_at is: 'time' (a time of day was"
            " seen), 'date' (only the day: its 00:00 is no observation), '' (unknown).",
            "first_seen_at": "When a run first archived it (UTC).",
            "last_seen_at": "When a run last saw it on a listing (UTC).",
            "version": "Number of its latest version in item_versions.",
            "content_hash": "SHA-1 of the normalised headline and summary.",
            "tags": "JSON array of the article's tags.",
            "truncated": "Fields cut to their length cap, comma-separated ('' if none).",
        },
    ),
    "item_versions": (
        "Every distinct text of every item (full copies). Search it with topicwatch search or"
        " the search query of topicwatch serve (any length, any width).",
        {
            "id": "Version row id (search_fts rowid).",
            "item_id": "The item (items.id).",
            "version": "1 for the first text, +1 per edit.",
            "headline": "Headline of this version.",
            "summary": "Summary of this version.",
            "observed_at": "When this text was first archived (UTC).",
            "run_id": "The run that archived it.",
            "content_hash": "SHA-1 of the normalised headline and summary.",
            "snapshot_id": "The stored page it was extracted from (snapshots.id).",
            "extractor_version": "Version of the extraction rules that produced it.",
            "truncated": "Fields cut to their length cap, comma-separated ('' if none).",
        },
    ),
    "changes": (
        "What each run changed: new, edited, filled, alternating, vanished or reappeared items.",
        {
            "id": "Change id; increases with time.",
            "run_id": "The run that saw the change.",
            "item_id": "The item.",
            "kind": "new, edited, filled, alternating, vanished, reappeared or reextracted"
            " (rules: docs/schema.md).",
            "at": "When (the run's finish, UTC).",
            "version": "The item's version after the change.",
            "fields": "For edited: the changed fields, comma-separated (headline,summary).",
        },
    ),
    "topic_items": (
        "Which items each topic lists, and where they were last seen.",
        {
            "topic_id": "The topic.",
            "item_id": "The item.",
            "first_listed_at": "First sighting on this topic (UTC).",
            "last_listed_at": "Latest sighting on this topic (UTC).",
            "last_position": "Position at the latest sighting (1 = top of page 1).",
            "last_page": "Page at the latest sighting.",
            "vanished_at": "When it vanished from the listing; NULL while listed.",
            "last_run_id": "The run that last listed it (runs are ordered by id, not clock).",
        },
    ),
    "listing_pages": (
        "Per listing page URL: validators for conditional GET and the items it held.",
        {
            "url": "Listing page URL.",
            "topic_id": "The topic.",
            "page": "Page number.",
            "etag": "Last ETag.",
            "last_modified": "Last Last-Modified header.",
            "item_urls": "JSON array of the item URLs on the page when last parsed.",
            "fetched_at": "Last fetch (UTC).",
            "body_sha256": "SHA-256 of the body last parsed (as snapshots.sha256); a fetch of"
            " the same body, to be read the same way, is unchanged like a 304. NULL: not yet"
            " known.",
            "extraction": "The extraction that read it: the extractor version, and a digest"
            " of the topic's selectors when it has any.",
        },
    ),
    "listings": (
        "Each distinct ordered listing a topic showed (stored only when it changed).",
        {
            "id": "Listing id.",
            "topic_id": "The topic.",
            "run_id": "The run that read it.",
            "observed_at": "When it was read (UTC); in force until the topic's next listing.",
            "listing_hash": "SHA-1 of the ordered (position, page, item) entries.",
        },
    ),
    "listing_entries": (
        "The cards of each stored listing, in order.",
        {
            "listing_id": "The listing.",
            "position": "Position over all pages read (1 = top).",
            "page": "Page number.",
            "item_id": "The item.",
        },
    ),
    "url_aliases": (
        "Other spellings of item URLs seen on pages, mapped to the canonical URL.",
        {
            "alias": "The spelling seen.",
            "url": "Canonical URL.",
            "seen_at": "When last confirmed.",
            "source": "canonical (the article's rel=canonical) or drift (the same listed"
            " texts under new links).",
        },
    ),
    "enrichment": (
        "Per item: whether its article page was read (headline, date, tags, canonical).",
        {
            "item_id": "The item.",
            "attempts": "Times its article page was tried.",
            "last_attempt_at": "Last try (UTC).",
            "enriched_at": "When its article page was read; NULL while pending.",
            "last_error": "Why the last try failed.",
        },
    ),
    "snapshots": (
        "Raw fetched pages, stored once per content hash, compressed.",
        {
            "id": "Snapshot id.",
            "sha256": "SHA-256 of the raw body.",
            "compression": "How body is compressed.",
            "size": "Raw size in bytes.",
            "stored_size": "Stored (compressed) size in bytes.",
            "body": "The compressed page.",
            "first_seen_at": "First fetch with this content (UTC).",
        },
    ),
    "fetches": (
        "Every page fetch of every run, listing or article.",
        {
            "id": "Fetch id.",
            "run_id": "The run.",
            "kind": "listing or article.",
            "url": "URL fetched.",
            "page": "Listing page number (NULL for articles).",
            "fetched_at": "When (UTC).",
            "status": "HTTP status.",
            "content_type": "Content-Type header.",
            "etag": "ETag header.",
            "last_modified": "Last-Modified header.",
            "snapshot_id": "The stored body (snapshots.id), if any.",
        },
    ),
    "daemon_heartbeat": (
        "The scheduler daemon's liveness: one row, refreshed while it runs.",
        {
            "id": "Always 1.",
            "pid": "Daemon process id.",
            "hostname": "Host it runs on.",
            "config_path": "Its configuration file.",
            "started_at": "Daemon start (UTC).",
            "last_beat_at": "Latest heartbeat (UTC).",
            "beat_seconds": "Heartbeat interval.",
            "stopped_at": "Clean stop (UTC); NULL while running or after a crash.",
        },
    ),
    "daemon_topics": (
        "The daemon's per-topic schedule and failure streak.",
        {
            "topic_id": "The topic.",
            "schedule": "Its schedule.",
            "next_run_at": "Next planned run (UTC).",
            "waiting_since": "Due time (UTC) of a check still waiting for a crawl slot"
            " (the daemon over capacity); NULL when none waits.",
            "consecutive_failures": "Failed runs in a row.",
            "alerting": "1 while a failure alert is raised.",
            "last_error": "Latest error.",
            "updated_at": "Last update (UTC).",
        },
    ),
    "daemon_workers": (
        "The daemon's warm crawl workers (crawl_workers > 0), as of its latest heartbeat.",
        {
            "pid": "Worker process id (crawl_runs.pid of the runs it ran).",
            "started_at": "Worker start (UTC).",
            "runs_done": "Runs it has finished.",
            "topics": "Topics it is crawling now (JSON array of names).",
            "draining": "1 while it finishes its runs before exiting (recycling or stopping).",
            "rss_mb": "Its resident memory (MiB) at the heartbeat; NULL if unreadable.",
            "updated_at": "Last update (UTC).",
        },
    ),
    "scrapyd_jobs": (
        "Runs dispatched to Scrapyd nodes (executor = scrapyd): one row per run of a job, so a"
        " restarted daemon reattaches to its jobs instead of marking their runs aborted.",
        {
            "job": "Scrapyd job id (unique per attempt; a batch job carries several runs).",
            "run_id": "A run (crawl_runs.id) the job crawls.",
            "node": "The node's URL.",
            "site": "The topic's site (host): the per-site limit counts jobs by it.",
            "state": "dispatched, committed, failed, abandoned (node unreachable: to cancel"
            " when it returns), cancelled or refused.",
            "dispatched_at": "Sent to the node (UTC).",
            "updated_at": "Last change of state (UTC).",
            "error": "Why it failed or was abandoned, if it did.",
        },
    ),
    "scrapyd_nodes": (
        "The Scrapyd nodes as the daemon last saw them (shown by topicwatch status).",
        {
            "url": "The node's URL ([scrapyd] nodes).",
            "reachable": "1 when its last answer was good.",
            "running": "Jobs running on it then.",
            "pending": "Jobs waiting on it then.",
            "last_error": "Its last error (unreachable, credentials refused), if any.",
            "checked_at": "Last check (UTC).",
        },
    ),
    "daemon_alerts": (
        "Alert outbox: failing/recovered notices and their delivery.",
        {
            "id": "Alert id.",
            "topic_id": "The topic.",
            "kind": "failing or recovered.",
            "hook": "webhook or command.",
            "created_at": "Raised (UTC).",
            "payload": "What is sent.",
            "state": "pending, sent, failed or skipped.",
            "attempts": "Delivery attempts.",
            "sent_at": "Delivered (UTC).",
            "last_error": "Latest delivery error.",
        },
    ),
    "watches": (
        "Each configured watch ([[watch]] in the daemon's config) as last registered by the"
        " daemon or `topicwatch watches send`; it matches changes after its high-water mark.",
        {
            "name": "The watch's name (its live feed: /-/watches/NAME.atom).",
            "registered_at": "First registered (UTC): changes committed before are not sent.",
            "definition": "What it matches, as JSON: kinds, topics, query, digest seconds,"
            " destination keys.",
            "high_water": "The newest changes.id already matched.",
            "last_delivery_at": "Latest successful delivery (UTC).",
            "last_error": "Latest delivery error; NULL after a success.",
            "updated_at": "Last registered (UTC).",
        },
    ),
    "watch_outbox": (
        "Watch outbox: one row per matching change per watch and destination (unique), so"
        " each change is sent once however often it is matched.",
        {
            "id": "Outbox row id.",
            "watch": "The watch (watches.name).",
            "destination": "Destination key: its kind and a hash of its target (no secrets).",
            "change_id": "The change (changes.id).",
            "queued_at": "Matched (UTC).",
            "due_at": "When it may be sent: at once, or the end of its digest period (UTC).",
            "state": "pending, sent, failed (attempts used up) or skipped (destination gone).",
            "attempts": "Delivery attempts.",
            "next_attempt_at": "Earliest next attempt, after backoff (UTC).",
            "sent_at": "Delivered (UTC).",
            "last_error": "Latest delivery error.",
        },
    ),
    "daemon_events": (
        "The scheduler's event log.",
        {
            "id": "Event id.",
            "at": "When (UTC).",
            "kind": "Event kind.",
            "topic": "Topic, if any.",
            "detail": "Details.",
        },
    ),
    "latest_items": (
        "View: every item's latest text, one row per topic that lists it.",
        {
            "item_id": "Item id.",
            "topic": "Topic name.",
            "url": "Article URL.",
            "headline": "Latest headline.",
            "summary": "Latest summary.",
            "published_at": "Publication time shown by the site.",
            "first_seen_at": "First archived (UTC).",
            "last_seen_at": "Last seen on a listing (UTC).",
            "version": "Latest version number.",
            "position": "Position at the latest sighting.",
            "page": "Page at the latest sighting.",
            "vanished_at": "When it vanished; NULL while listed.",
            "status": "listed or vanished.",
        },
    ),
    "edits": (
        "View: every edit with the text before and after, side by side.",
        {
            "change_id": "The changes row.",
            "at": "When the edit was seen (UTC).",
            "topic": "Topic of the run that saw it.",
            "item_id": "Item id.",
            "url": "Article URL.",
            "fields": "Changed fields.",
            "version": "Version after the edit.",
            "headline_before": "Headline before.",
            "headline_after": "Headline after.",
            "summary_before": "Summary before.",
            "summary_after": "Summary after.",
            "before_observed_at": "When the previous text was first archived.",
            "run_id": "The run that saw the edit.",
        },
    ),
    "retractions": (
        "View: items that vanished from a listing the run read (retracted or re-tagged).",
        {
            "change_id": "The changes row.",
            "vanished_at": "When it was found missing (UTC).",
            "topic": "Topic it vanished from.",
            "item_id": "Item id.",
            "url": "Article URL.",
            "headline": "Its headline when it vanished.",
            "summary": "Its summary when it vanished.",
            "published_at": "Publication time shown by the site.",
            "first_seen_at": "First archived (UTC).",
            "reappeared_at": "When it was listed again on that topic; NULL if still gone.",
            "run_id": "The run that found it missing.",
        },
    ),
}

HIDDEN = ("search_fts", "search_vocab", "search_fold_scratch")

VIEWS = ("latest_items", "edits", "retractions")

DOC = Path(__file__).resolve().parents[1] / "docs" / "schema.md"
BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"


def render_markdown() -> str:
    """The tables-and-views section of docs/schema.md, one ``###`` section per name."""
    sections = []
    for name, (description, columns) in TABLES.items():
        kind = "view" if name in VIEWS else "table"
        rows = "".join(f"| `{column}` | {meaning} |\n" for column, meaning in columns.items())
        sections.append(
            f"### `{name}` ({kind})\n\n{description}\n\n| column | meaning |\n| --- | --- |\n{rows}"
        )
    return "\n".join(sections)


def documented(doc: Path = DOC) -> str:
    """What docs/schema.md holds between its markers now."""
    text = doc.read_text(encoding="utf-8")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write(doc: Path = DOC) -> None:
    """Replace the section between the markers with :func:`render_markdown`."""
    text = doc.read_text(encoding="utf-8")
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    doc.write_text(f"{before}{BEGIN}\n{render_markdown()}{END}{after}", encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else DOC)
