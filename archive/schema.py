"""The archive's schema: the only DDL in topicwatch, applied as numbered migrations.

The schema is a public contract for analysts (docs/schema.md). Its version lives in
``PRAGMA user_version``; each entry of ``MIGRATIONS`` upgrades version ``n`` to ``n + 1``
inside the caller's transaction, so an older archive opens and is upgraded in place and a
half-applied upgrade is impossible.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from topicwatch.archive.fold import FOLDABLE_GLOB, SENTINEL, fold, fold_sql_stages, sql_literal
from topicwatch.archive.published import DATE_ONLY_SUFFIX
from topicwatch.archive.text import content_hash

Migration = Callable[[sqlite_utils.Database], None]

_V1 = """
CREATE TABLE topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE crawl_runs (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    topic_id INTEGER REFERENCES topics(id),
    url TEXT NOT NULL,
    trigger TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule')),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'ok', 'failed', 'aborted')),
    pages INTEGER NOT NULL DEFAULT 0,
    pages_not_modified INTEGER NOT NULL DEFAULT 0,
    items_seen INTEGER NOT NULL DEFAULT 0,
    items_new INTEGER NOT NULL DEFAULT 0,
    items_edited INTEGER NOT NULL DEFAULT 0,
    items_vanished INTEGER NOT NULL DEFAULT 0,
    items_reappeared INTEGER NOT NULL DEFAULT 0,
    articles_fetched INTEGER NOT NULL DEFAULT 0,
    articles_failed INTEGER NOT NULL DEFAULT 0,
    first_page_items INTEGER,
    headline_coverage REAL,
    summary_coverage REAL,
    date_coverage REAL,
    gap_suspected INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    error TEXT,
    pid INTEGER,
    extractor_version TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT 'crawl' CHECK (mode IN ('crawl', 'reparse'))
);
CREATE INDEX crawl_runs_topic_started ON crawl_runs (topic, started_at);
CREATE INDEX crawl_runs_status ON crawl_runs (status);

CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    headline TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    published_at TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    content_hash TEXT NOT NULL
);

CREATE TABLE url_aliases (
    alias TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    seen_at TEXT NOT NULL
);

CREATE TABLE item_versions (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    version INTEGER NOT NULL,
    headline TEXT NOT NULL,
    summary TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
    content_hash TEXT NOT NULL,
    snapshot_id INTEGER REFERENCES snapshots(id),
    extractor_version TEXT NOT NULL DEFAULT '',
    UNIQUE (item_id, version)
);
CREATE INDEX item_versions_run ON item_versions (run_id);

CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    kind TEXT NOT NULL
        CHECK (kind IN ('new', 'edited', 'vanished', 'reappeared', 'reextracted')),
    at TEXT NOT NULL,
    version INTEGER,
    fields TEXT NOT NULL DEFAULT ''
);
CREATE INDEX changes_at ON changes (at);
CREATE INDEX changes_item ON changes (item_id);
CREATE INDEX changes_run ON changes (run_id);

CREATE TABLE topic_items (
    topic_id INTEGER NOT NULL REFERENCES topics(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    first_listed_at TEXT NOT NULL,
    last_listed_at TEXT NOT NULL,
    last_position INTEGER NOT NULL,
    last_page INTEGER NOT NULL,
    vanished_at TEXT,
    PRIMARY KEY (topic_id, item_id)
);
CREATE INDEX topic_items_item ON topic_items (item_id);

CREATE TABLE listing_pages (
    url TEXT PRIMARY KEY,
    topic_id INTEGER NOT NULL REFERENCES topics(id),
    page INTEGER NOT NULL,
    etag TEXT,
    last_modified TEXT,
    item_urls TEXT NOT NULL DEFAULT '[]',
    fetched_at TEXT NOT NULL
);

CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    compression TEXT NOT NULL,
    size INTEGER NOT NULL,
    stored_size INTEGER NOT NULL,
    body BLOB NOT NULL,
    first_seen_at TEXT NOT NULL
);

CREATE TABLE fetches (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
    kind TEXT NOT NULL CHECK (kind IN ('listing', 'article')),
    url TEXT NOT NULL,
    page INTEGER,
    fetched_at TEXT NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT,
    etag TEXT,
    last_modified TEXT,
    snapshot_id INTEGER REFERENCES snapshots(id)
);
CREATE INDEX fetches_run ON fetches (run_id);
CREATE INDEX fetches_snapshot ON fetches (snapshot_id);
CREATE INDEX fetches_url ON fetches (url, fetched_at);
CREATE INDEX item_versions_snapshot ON item_versions (snapshot_id);

CREATE TABLE listings (
    id INTEGER PRIMARY KEY,
    topic_id INTEGER NOT NULL REFERENCES topics(id),
    run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
    observed_at TEXT NOT NULL,
    listing_hash TEXT NOT NULL
);
CREATE INDEX listings_topic_observed ON listings (topic_id, observed_at);

CREATE TABLE listing_entries (
    listing_id INTEGER NOT NULL REFERENCES listings(id),
    position INTEGER NOT NULL,
    page INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id),
    PRIMARY KEY (listing_id, position)
);
CREATE INDEX listing_entries_item ON listing_entries (item_id);
"""


def _v1_initial(db: sqlite_utils.Database) -> None:
    """Tables for topics, runs, items with versions, changes and listings."""
    _run_script(db, _V1)


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    """Run DDL statement by statement: ``executescript`` would COMMIT our transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


_DAEMON = """
CREATE TABLE daemon_heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    config_path TEXT,
    started_at TEXT NOT NULL,
    last_beat_at TEXT NOT NULL,
    beat_seconds REAL NOT NULL,
    stopped_at TEXT
);

CREATE TABLE daemon_topics (
    topic_id INTEGER PRIMARY KEY REFERENCES topics(id),
    schedule TEXT NOT NULL,
    next_run_at TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    alerting INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at TEXT NOT NULL
);

CREATE TABLE daemon_alerts (
    id INTEGER PRIMARY KEY,
    topic_id INTEGER NOT NULL REFERENCES topics(id),
    kind TEXT NOT NULL CHECK (kind IN ('failing', 'recovered')),
    hook TEXT NOT NULL CHECK (hook IN ('webhook', 'command')),
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at TEXT,
    last_error TEXT
);
CREATE INDEX daemon_alerts_state ON daemon_alerts (state);

CREATE TABLE daemon_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX daemon_events_at ON daemon_events (at);
"""


def _v2_daemon(db: sqlite_utils.Database) -> None:
    """The daemon's own state: heartbeat, per-topic schedule and failure streak, alert
    outbox (so a restart never sends an alert twice) and scheduler events."""
    _run_script(db, _DAEMON)


_ANALYST_VIEWS = """
CREATE VIEW edits AS
SELECT
    c.id AS change_id, c.at, coalesce(t.name, r.topic) AS topic, c.item_id, i.url, c.fields,
    c.version, old_v.headline AS headline_before, new_v.headline AS headline_after,
    old_v.summary AS summary_before, new_v.summary AS summary_after,
    old_v.observed_at AS before_observed_at, c.run_id
FROM changes AS c
JOIN crawl_runs AS r ON r.id = c.run_id
LEFT JOIN topics AS t ON t.id = r.topic_id
JOIN items AS i ON i.id = c.item_id
JOIN item_versions AS new_v ON new_v.item_id = c.item_id AND new_v.version = c.version
LEFT JOIN item_versions AS old_v ON old_v.item_id = c.item_id AND old_v.version = c.version - 1
WHERE c.kind = 'edited';

CREATE VIEW retractions AS
SELECT
    c.id AS change_id, c.at AS vanished_at, coalesce(t.name, r.topic) AS topic, c.item_id,
    i.url, v.headline, v.summary, i.published_at, i.first_seen_at,
    (
        SELECT min(back.at) FROM changes AS back
        JOIN crawl_runs AS back_run ON back_run.id = back.run_id
        WHERE back.item_id = c.item_id AND back.kind = 'reappeared' AND back.id > c.id
            AND back_run.topic_id IS r.topic_id
    ) AS reappeared_at,
    c.run_id
FROM changes AS c
JOIN crawl_runs AS r ON r.id = c.run_id
LEFT JOIN topics AS t ON t.id = r.topic_id
JOIN items AS i ON i.id = c.item_id
LEFT JOIN item_versions AS v ON v.item_id = c.item_id AND v.version = c.version
WHERE c.kind = 'vanished';
"""

_ANALYSTS = """
CREATE INDEX changes_kind_at ON changes (kind, at);
CREATE INDEX items_first_seen ON items (first_seen_at);
CREATE INDEX crawl_runs_topic_id_started ON crawl_runs (topic_id, started_at);

CREATE VIEW latest_items AS
SELECT
    i.id AS item_id, coalesce(t.name, '') AS topic, i.url, i.headline, i.summary,
    i.published_at, i.first_seen_at, i.last_seen_at, i.version,
    ti.last_position AS position, ti.last_page AS page, ti.vanished_at,
    CASE WHEN ti.vanished_at IS NULL THEN 'listed' ELSE 'vanished' END AS status
FROM items AS i
LEFT JOIN topic_items AS ti ON ti.item_id = i.id
LEFT JOIN topics AS t ON t.id = ti.topic_id;

CREATE TABLE search_fold_scratch (
    id INTEGER PRIMARY KEY,
    headline TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE VIRTUAL TABLE search_fts USING fts5 (headline, summary, tokenize = 'trigram', content = '');
CREATE VIRTUAL TABLE search_vocab USING fts5vocab (search_fts, row);
"""


def _v3_analysts(db: sqlite_utils.Database) -> None:
    """Analysts' reads: views, indexes for newest-first lists, and full-text search.

    ``search_fts`` is a contentless trigram index of every item version's folded text
    (:mod:`archive.fold`), kept in sync by triggers because the store writes with raw SQL.
    """
    _run_script(db, _ANALYSTS)
    _run_script(db, _ANALYST_VIEWS)
    for statement in _search_triggers():
        db.execute(statement)
    rows = db.execute("SELECT id, headline, summary FROM item_versions").fetchall()
    db.conn.executemany(
        "INSERT INTO search_fts (rowid, headline, summary) VALUES (?, ?, ?)",
        [(row_id, fold(h) + SENTINEL, fold(s) + SENTINEL) for row_id, h, s in rows],
    )


def _search_triggers() -> list[str]:
    """Triggers that (un)index a version's folded text in ``search_fts``.

    Text with nothing to fold goes straight in (~30 µs a row); other text is folded in a
    scratch row, stage by stage (~150 µs a row), see :func:`archive.fold.fold_sql_stages`.
    """
    end = sql_literal(SENTINEL)

    def foldable(ref: str) -> str:
        glob = sql_literal(FOLDABLE_GLOB)
        return f"({ref}.headline GLOB {glob} OR {ref}.summary GLOB {glob})"

    def direct(ref: str, command: str) -> str:
        return (
            f"INSERT INTO search_fts (search_fts, rowid, headline, summary)"
            f" VALUES ({command}, {ref}.id, {ref}.headline || {end}, {ref}.summary || {end});"
        )

    def staged(ref: str, command: str) -> str:
        stages = zip(fold_sql_stages("headline"), fold_sql_stages("summary"), strict=True)
        return (
            "INSERT INTO search_fold_scratch (id, headline, summary)"
            f" VALUES ({ref}.id, {ref}.headline, {ref}.summary);"
            + "".join(
                f"UPDATE search_fold_scratch SET headline = {h}, summary = {s} WHERE id = {ref}.id"
                f" AND (headline GLOB {glob} OR summary GLOB {glob});"
                for (glob, h), (_, s) in stages
            )
            + f"INSERT INTO search_fts (search_fts, rowid, headline, summary) SELECT {command},"
            f" id, headline || {end}, summary || {end} FROM search_fold_scratch"
            f" WHERE id = {ref}.id; DELETE FROM search_fold_scratch WHERE id = {ref}.id;"
        )

    on = "ON item_versions FOR EACH ROW"
    new, old, delete = foldable("new"), foldable("old"), "'delete'"
    return [
        f"CREATE TRIGGER item_versions_search_insert AFTER INSERT {on} WHEN NOT {new}"
        f" BEGIN {direct('new', 'NULL')} END",
        f"CREATE TRIGGER item_versions_search_insert_folded AFTER INSERT {on} WHEN {new}"
        f" BEGIN {staged('new', 'NULL')} END",
        f"CREATE TRIGGER item_versions_search_delete AFTER DELETE {on} WHEN NOT {old}"
        f" BEGIN {direct('old', delete)} END",
        f"CREATE TRIGGER item_versions_search_delete_folded AFTER DELETE {on} WHEN {old}"
        f" BEGIN {staged('old', delete)} END",
        # Versions are never rewritten; this keeps the index right if someone does.
        f"CREATE TRIGGER item_versions_search_update AFTER UPDATE {on}"
        f" BEGIN {staged('old', delete)}{staged('new', 'NULL')} END",
    ]


_SEARCH_TRIGGERS = (
    "item_versions_search_insert",
    "item_versions_search_insert_folded",
    "item_versions_search_delete",
    "item_versions_search_delete_folded",
    "item_versions_search_update",
)


def _v4_search_index_by_store(db: sqlite_utils.Database) -> None:
    """``search_fts`` is kept by the code that writes versions (:mod:`archive.search_index`).

    The triggers folded text in SQL (30–150 µs a row) and re-indexed a version whenever
    its provenance was set, which made most of the cost of archiving a new item. The
    index's content does not change: the store folds with the same table, in Python.
    """
    for name in _SEARCH_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute("DROP TABLE IF EXISTS search_fold_scratch")


_SINCE_INDEXES = """
CREATE INDEX item_versions_observed ON item_versions (observed_at);
CREATE INDEX items_last_seen ON items (last_seen_at, first_seen_at);
"""


def _v5_since_indexes(db: sqlite_utils.Database) -> None:
    """Indexes for "since WHEN" reads of a large archive (``search --since``): versions
    by when they were archived, items by their last and first sighting."""
    _run_script(db, _SINCE_INDEXES)


def _v6_listed_items_index(db: sqlite_utils.Database) -> None:
    """What a topic's last run listed, and its vanished items, read once per run by the
    store without reading every item the topic ever listed."""
    db.execute(
        "CREATE INDEX topic_items_listed ON topic_items (topic_id, vanished_at, last_listed_at)"
    )


_CHANGE_KINDS_V7 = (
    "'new', 'edited', 'vanished', 'reappeared', 'reextracted', 'filled', 'alternating'"
)

_TRUST = f"""
CREATE TABLE changes_v7 (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    kind TEXT NOT NULL CHECK (kind IN ({_CHANGE_KINDS_V7})),
    at TEXT NOT NULL,
    version INTEGER,
    fields TEXT NOT NULL DEFAULT ''
);
INSERT INTO changes_v7 (id, run_id, item_id, kind, at, version, fields)
    SELECT id, run_id, item_id, kind, at, version, fields FROM changes;
DROP VIEW edits;
DROP VIEW retractions;
DROP TABLE changes;
ALTER TABLE changes_v7 RENAME TO changes;
CREATE INDEX changes_at ON changes (at);
CREATE INDEX changes_item ON changes (item_id);
CREATE INDEX changes_run ON changes (run_id);
CREATE INDEX changes_kind_at ON changes (kind, at);

ALTER TABLE topic_items ADD COLUMN last_run_id INTEGER REFERENCES crawl_runs(id);
UPDATE topic_items SET last_run_id = (
    SELECT max(r.id) FROM crawl_runs AS r WHERE r.topic_id = topic_items.topic_id
        AND r.status = 'ok' AND r.mode = 'crawl' AND r.finished_at = topic_items.last_listed_at
);
DROP INDEX topic_items_listed;
CREATE INDEX topic_items_last_run ON topic_items (topic_id, vanished_at, last_run_id);

ALTER TABLE items ADD COLUMN truncated TEXT NOT NULL DEFAULT '';
ALTER TABLE item_versions ADD COLUMN truncated TEXT NOT NULL DEFAULT '';
ALTER TABLE crawl_runs ADD COLUMN fields_cleaned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE crawl_runs ADD COLUMN articles_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE crawl_runs ADD COLUMN items_filled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE url_aliases ADD COLUMN source TEXT NOT NULL DEFAULT 'canonical'
    CHECK (source IN ('canonical', 'drift'));

CREATE TABLE enrichment (
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    enriched_at TEXT,
    last_error TEXT
);
INSERT INTO enrichment (item_id, attempts, last_attempt_at, enriched_at)
    SELECT id, 1, first_seen_at, first_seen_at FROM items;
"""


def _v7_trust(db: sqlite_utils.Database) -> None:
    """What trustworthy history on real sites needs (issue: no false changes, no lost items).

    * ``changes.kind`` gains ``filled`` (a field seen for the first time: not an edit) and
      ``alternating`` (an item flipping between recent versions, marked once). SQLite
      cannot alter a CHECK, so the table is rebuilt (ids kept) and its views recreated.
    * ``topic_items.last_run_id``: the previous listing is found by run sequence, never by
      wall-clock time (a clock set back must not hide the last listing); backfilled from
      the ok run that finished when each item was last listed.
    * ``truncated`` (fields cut to their length cap), ``crawl_runs.fields_cleaned`` (card
      fields dropped or cleaned), ``items_filled`` and ``articles_pending`` (items whose
      article page is still to be read).
    * ``url_aliases.source``: ``canonical`` (an article's rel=canonical) or ``drift`` (the
      same listed texts under new URLs), so aliases can be revised by kind.
    * ``enrichment``: per item, whether its article page was read; items archived before
      this version are taken as enriched (their article was fetched when they were new,
      as older versions always did), so an upgrade does not refetch the whole archive.
    """
    _run_script(db, _TRUST)
    _run_script(db, _ANALYST_VIEWS)


def _v8_volatile_edges(db: sqlite_utils.Database) -> None:
    """Content hashes under the comparison that ignores volatile edge fragments.

    :func:`archive.text.comparison_key` no longer counts a relative time, counter or badge
    at a field's edge ("見出し48分前"), so every stored hash is recomputed from the stored
    text (which stays as published): an unchanged item must not look edited, and a return
    to an earlier version must be recognised by its hash.
    """
    _rehash(db)


def _v9_volatile_shapes(db: sqlite_utils.Database) -> None:
    """Content hashes under the comparison that knows volatile fragments by their shape.

    The comparison now reads fragments in their NFKC form (ＮＥＷ！, ３分前) and by shape:
    any number beside a counting noun (1,234回再生, 再生回数 1,234), "Updated 3 hours ago",
    reading times (5 min read), more badges (速報, 【PR】, ★NEW★, 速報：); and it ignores
    invisible characters (soft hyphens, zero-width spaces, bidi marks, variation
    selectors) and folds spelling variants (〜/～, ―/—, smart quotes). Stored text is
    unchanged; hashes of text holding such fragments or characters are recomputed, as in
    version 8.
    """
    _rehash(db)


def _v10_retired_topics(db: sqlite_utils.Database) -> None:
    """``topics.retired_at``: a topic the operator retired (a mistyped URL, a tag the site
    dropped) leaves ``status`` and ``gaps`` while its history stays; NULL while active."""
    db.execute("ALTER TABLE topics ADD COLUMN retired_at TEXT")


def _v11_published_precision(db: sqlite_utils.Database) -> None:
    """``items.published_precision``: ``date`` when only the day of publication is known
    (a listing that shows dates: the value's 00:00 is no observation), ``time`` when a time
    of day was seen, ``''`` when nothing. A more precise observation replaces a less
    precise one (archive.published). Existing values at exactly 00:00 JST are taken for
    dates, as the crawler wrote a date that way. Self-contained: reads and writes only
    its own column."""
    db.execute("ALTER TABLE items ADD COLUMN published_precision TEXT NOT NULL DEFAULT ''")
    db.execute(
        "UPDATE items SET published_precision = CASE WHEN published_at = '' THEN ''"
        " WHEN instr(published_at, 'T') = 0 OR published_at LIKE ? THEN 'date' ELSE 'time' END",
        [f"%{DATE_ONLY_SUFFIX}"],
    )


def _v12_daemon_workers(db: sqlite_utils.Database) -> None:
    """``daemon_workers``: the daemon's warm crawl workers (``crawl_workers``), refreshed
    at each heartbeat, so ``topicwatch status`` can show them from another shell."""
    _run_script(
        db,
        """
CREATE TABLE daemon_workers (
    pid INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    runs_done INTEGER NOT NULL DEFAULT 0,
    topics TEXT NOT NULL DEFAULT '[]',
    draining INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
""",
    )


def _v13_waiting_checks(db: sqlite_utils.Database) -> None:
    """``daemon_topics.waiting_since``: the due time of a check still waiting for a crawl
    slot (the daemon over capacity), and ``daemon_workers.rss_mb``, each worker's memory,
    so ``topicwatch status`` shows how late each topic is and what the workers weigh."""
    db.execute("ALTER TABLE daemon_topics ADD COLUMN waiting_since TEXT")
    db.execute("ALTER TABLE daemon_workers ADD COLUMN rss_mb REAL")


_WATCHES = """
CREATE TABLE watches (
    name TEXT PRIMARY KEY,
    registered_at TEXT NOT NULL,
    definition TEXT NOT NULL,
    high_water INTEGER NOT NULL,
    last_delivery_at TEXT,
    last_error TEXT,
    updated_at TEXT NOT NULL
);

CREATE TABLE watch_outbox (
    id INTEGER PRIMARY KEY,
    watch TEXT NOT NULL REFERENCES watches(name),
    destination TEXT NOT NULL,
    change_id INTEGER NOT NULL REFERENCES changes(id),
    queued_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT,
    UNIQUE (watch, destination, change_id)
);
CREATE INDEX watch_outbox_pending ON watch_outbox (state, next_attempt_at);
"""


def _v14_watches(db: sqlite_utils.Database) -> None:
    """``watches`` and ``watch_outbox``: each configured watch with the last change it has
    matched (its high-water mark), and one outbox row per change per destination, unique,
    so matching twice (the daemon and ``watches send``, or after a crash) queues once.
    Self-contained: creates its own tables only."""
    _run_script(db, _WATCHES)


def _v15_listing_page_bodies(db: sqlite_utils.Database) -> None:
    """``listing_pages.body_sha256`` and ``extraction``: the body a page's ``item_urls``
    were read from and the extraction that read it, so a check that receives the very same
    bytes again, to be read the same way, records the page as unchanged (as a 304) without
    extracting it again. NULL until the page is next parsed. Two partial indexes find a
    topic's last ok run and its last runs that parsed page 1 without a scan."""
    db.execute("ALTER TABLE listing_pages ADD COLUMN body_sha256 TEXT")
    db.execute("ALTER TABLE listing_pages ADD COLUMN extraction TEXT")
    # Every check asks for the topic's last ok run and its last runs that parsed page 1;
    # an unchanged page is parsed no more, so without these the search read back through
    # every ok run of every topic (crawl_runs_status) until it found them.
    db.execute("CREATE INDEX crawl_runs_topic_ok ON crawl_runs (topic_id, id) WHERE status = 'ok'")
    db.execute(
        "CREATE INDEX crawl_runs_topic_parsed ON crawl_runs (topic_id, id)"
        " WHERE status = 'ok' AND first_page_items IS NOT NULL"
    )


def _v16_scrapyd_jobs(db: sqlite_utils.Database) -> None:
    """``scrapyd_jobs``: each run dispatched to a Scrapyd node, with its node and job id, so a
    restarted daemon reattaches to its jobs; ``scrapyd_nodes``: each node as the daemon last
    saw it, for ``topicwatch status``."""
    _run_script(
        db,
        """
CREATE TABLE scrapyd_jobs (
    job TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
    node TEXT NOT NULL,
    site TEXT NOT NULL,
    state TEXT NOT NULL,
    dispatched_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (job, run_id)
);
CREATE INDEX scrapyd_jobs_state ON scrapyd_jobs(state);
CREATE INDEX scrapyd_jobs_run ON scrapyd_jobs(run_id);
CREATE TABLE scrapyd_nodes (
    url TEXT PRIMARY KEY,
    reachable INTEGER NOT NULL,
    running INTEGER NOT NULL DEFAULT 0,
    pending INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    checked_at TEXT NOT NULL
);
""",
    )


def _rehash(db: sqlite_utils.Database) -> None:
    """Recompute every stored content hash from the stored text under today's comparison."""
    for table in ("items", "item_versions"):
        rows = db.execute(f"SELECT id, headline, summary, content_hash FROM {table}").fetchall()
        db.conn.executemany(
            f"UPDATE {table} SET content_hash = ? WHERE id = ?",
            [
                (digest, row_id)
                for row_id, headline, summary, old in rows
                if (digest := content_hash(headline, summary)) != old
            ],
        )


MIGRATIONS: list[Migration] = [
    _v1_initial,
    _v2_daemon,
    _v3_analysts,
    _v4_search_index_by_store,
    _v5_since_indexes,
    _v6_listed_items_index,
    _v7_trust,
    _v8_volatile_edges,
    _v9_volatile_shapes,
    _v10_retired_topics,
    _v11_published_precision,
    _v12_daemon_workers,
    _v13_waiting_checks,
    _v14_watches,
    _v15_listing_page_bodies,
    _v16_scrapyd_jobs,
]
SCHEMA_VERSION = len(MIGRATIONS)


def pending_migrations(current_version: int) -> list[Migration]:
    """Migrations that take an archive at ``current_version`` to ``SCHEMA_VERSION``."""
    return MIGRATIONS[current_version:]
