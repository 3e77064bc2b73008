"""The fault matrix: one table that drives the fault tests and is docs/reliability.md.

Each :class:`Fault` states what topicwatch must do and what the operator then sees (exit
status, the run's recorded status/reason, an excerpt of its one-line error). The fault
tests are parametrised over these rows and assert exactly those fields, and
``tests/test_faults_doc.py`` checks that the document's tables are :func:`render` of them,
so the document cannot promise what the tests do not check.

A row with ``gap`` set is a known defect: its test is ``xfail(strict=True)`` until the fix
lands (then the strict xfail fails, and the row's ``gap`` must go), and the document says so.

Regenerate the document's tables with ``python tests/fault_matrix.py``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "reliability.md"
BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"


@dataclass(frozen=True)
class Fault:
    """One row: a fault, what topicwatch does, and what the operator sees."""

    id: str
    group: str
    fault: str
    does: str
    exit: str  # exit status of `topicwatch crawl` (or the command named in `fault`)
    run: str = "–"  # "status" or "status/reason" of the run row ("… or …"); "–": no run row
    error: str = ""  # an excerpt the recorded (or printed) error must contain
    gap: str = ""  # a known defect: what happens today instead


GROUPS = {
    "network": "Network and HTTP",
    "content": "Response bodies",
    "listing": "The listing itself",
    "history": "Site behaviours that must not falsify history",
    "text": "The text of a listing",
    "process": "Processes and concurrency",
    "storage": "The archive file",
    "input": "Operator input",
    "security": "Security",
    "hosts": "Redirects and other hosts",
    "daemon": "The daemon: hangs, hooks and timing",
}

_RETRY = "retries with backoff (honouring `Retry-After`), then archives normally"
_FAIL_HTTP = "retries (`RETRY_TIMES`), then fails the run; nothing in the archive changes"


def _status_rows(status: int, name: str, retry_after: str) -> list[Fault]:
    header = f" with `Retry-After: {retry_after}`" if retry_after else ""
    return [
        Fault(f"http-{status}-transient", "network", f"HTTP {status} {name}{header}, once",
              _RETRY, "0", "ok"),
        Fault(f"http-{status}-persistent", "network", f"HTTP {status} {name}{header}, always",
              _FAIL_HTTP, "1", "failed/http", f"HTTP {status} for"),
    ]  # fmt: skip


_PARTIAL = (
    "commits what it read: the run is ok, `partial`, the gap flagged (and shown by"
    " `gaps`); nothing beyond the pages read is judged vanished"
)
HISTORY: list[Fault] = [
    Fault("moved-up", "history",
          "an older item moves to the top (sticky post, \"updated\" bump) of a 40-item topic",
          "records the move (its new position); the items it pushed to page 2 are not "
          "vanished", "0", "ok"),
    Fault("moved-down", "history", "the top item moves down to page 2 (un-stickied)",
          "reads on to page 2 before judging the missing item: a move, not a retraction",
          "0", "ok"),
    Fault("later-page-robots", "history",
          "robots.txt `Disallow: /*/page/` while page 1 holds only new items", _PARTIAL,
          "0", "ok/partial", "page 2 refused by robots.txt"),
    Fault("later-page-404", "history", "a lasting 404 on page 2 while page 1 holds only new"
          " items", _PARTIAL, "0", "ok/partial", "page 2 could not be read (http: HTTP 404"),
    Fault("later-page-503", "history", "a lasting 503 on page 2 while page 1 holds only new"
          " items", _PARTIAL, "0", "ok/partial", "page 2 could not be read (http: HTTP 503"),
    Fault("articles-hang", "history", "article pages that never answer (3 new items)",
          "archives the listing within the enrichment budget; the items stay pending and "
          "are enriched on the next run", "0", "ok"),
    Fault("articles-fill", "history",
          "a summary-only listing whose article pages first hang, then answer",
          "archives the items without headlines, then fills them from the article pages "
          "on a later run: `filled`, never `edited`", "0", "ok"),
    Fault("wrong-canonical", "history",
          "a new article whose page names an existing, different article as `rel=canonical`",
          "ignores (and logs) the claim: a new item; the existing one untouched", "0", "ok"),
    Fault("alias-revised", "history",
          "an alias recorded earlier, then a listing showing it and its target as two "
          "different articles", "drops the alias: the article becomes an item of its own",
          "0", "ok"),
    Fault("widget-only", "history",
          "the list gone, a site-wide 「新着記事」 widget of 20 items (2 of the topic's) left "
          "in the sidebar",
          "never takes a widget for the list: the layout guard fails the run (no listing "
          "items); nothing new, nothing edited", "1", "failed/layout",
          "no listing items were found"),
    Fault("widget-unmarked", "history",
          "the same list of 20 (2 of the topic's) as plain `<div>`s in the main column, "
          "nothing marking it a widget",
          "reads on to confirm the listing, finds no more, and the layout guard fails the "
          "run: it keeps 2 of the topic's 20 items in their order; nothing new or edited",
          "1", "failed/layout", "not the topic's own list"),
    Fault("widget-last-known", "history",
          "the same widget with one of the topic's items as its last entry (19 foreign "
          "items above it, as a burst of new ones would stand)",
          "the layout guard fails the run: one known item confirms nothing", "1",
          "failed/layout", "not the topic's own list"),
    Fault("burst-confirmed", "history",
          "25 new articles at once on a 2-page topic (page 1 all new)",
          "reads on to page 2, where the topic's known items follow in order: a burst, "
          "archived", "0", "ok"),
    Fault("turnover-newer", "history",
          "a one-page \"latest 10\" topic whose 10 items are all replaced by newer ones",
          "the new items are dated after all the old ones: a turnover, archived; the old "
          "ones scrolled off, not retracted", "0", "ok"),
    Fault("retagged-older", "history",
          "six older articles newly tagged, standing at the bottom of page 1 by their dates",
          "archived as new items where they stand; nothing refused, nothing vanished", "0",
          "ok"),
    Fault("retraction-beside-bump", "history",
          "item 6 retracted while item 7, below it, is bumped to the top (40 items)",
          "judges item 6 by the neighbours that kept their order: vanished; the bump is a "
          "move", "0", "ok"),
    Fault("unpinned-page2-fails", "history",
          "the pinned top item un-pinned to page 2, and page 2 answers 404 this run",
          "a partial run judges nothing it could not finish looking for: no retraction",
          "0", "ok/partial", "page 2 could not be read"),
    Fault("page2-redirect", "history",
          "page 2 redirects to the site's top page while page 1 holds only new items",
          "a page redirected out of the listing is an unreadable page: a partial run, page 1 "
          "archived", "0", "ok/partial", "redirected to"),
    Fault("canonical-conflict", "history",
          "three new articles whose pages all name one unknown URL as `rel=canonical`",
          "claims that contradict each other merge nothing: three new items", "0", "ok"),
    Fault("drift-many-pages", "history",
          "a 100-item topic whose every link gains `?session=<token>` (the first crawl read "
          "5 pages, later ones 1)",
          "session parameters make no identity (a long token is dropped; otherwise the "
          "texts show drift against every item the topic lists): nothing new", "0", "ok"),
    Fault("alternating", "history", "an A/B-tested headline: A, B, A, B over four runs",
          "one edit, then `alternating` once; no more edits or versions", "0", "ok"),
    Fault("session-ids", "history",
          "a new session id in every link each run (`?PHPSESSID=…`, `;jsessionid=…`)",
          "session and tracking parameters never make identity: nothing new", "0", "ok"),
    Fault("session-paths", "history",
          "an ASP.NET cookieless session in every link, new each run (`/(S(<token>))/articles/"
          "…`), click ids (`utm_*`, `fbclid`, `gclid`, `_ga`) and a newline inside an href",
          "the session segment, click ids and the newline (browsers drop tabs and newlines "
          "in URLs) make no identity: nothing new, and nothing left to identity drift", "0",
          "ok"),
    Fault("directory-index", "history",
          "every link names its directory index this run (`/articles/slug/index.html`)",
          "a directory index (`index.html`, `index.php`, …) is its directory: nothing new, "
          "nothing left to identity drift", "0", "ok"),
    Fault("sid-article-ids", "history",
          "a site whose article links are `/story.php?sid=1000`, `?sid=1001`, …",
          "`sid` is a session only when its value is a session token (20+ random letters and "
          "digits): 20 distinct items (all 20 were one)", "0", "ok"),
    Fault("identity-drift", "history",
          "every link changes form (`?v=2` appended), the texts unchanged, no "
          "`rel=canonical` to say so",
          "takes it for identity drift (aliases, logged): nothing new, nothing vanished",
          "0", "ok"),
    Fault("clock-back", "history",
          "the clock set back 30 days between runs, then an item retracted from page 1",
          "orders runs by sequence, not time: the retraction is recorded", "0", "ok"),
    Fault("reparse-agrees", "history",
          "`topicwatch reparse` of a page listing one article twice with different texts",
          "reads it as the crawl did (the first card counts): nothing to re-extract", "0",
          "ok"),
]  # fmt: skip

MATRIX: list[Fault] = [
    *_status_rows(429, "Too Many Requests", "1"),
    *_status_rows(503, "Service Unavailable", "0"),
    *_status_rows(500, "Internal Server Error", ""),
    *_status_rows(502, "Bad Gateway", ""),
    *_status_rows(504, "Gateway Timeout", ""),
    Fault("retry-after-too-long", "network", "HTTP 503 with `Retry-After: 3600`",
          "does not retry a wait over `RETRY_AFTER_MAX` (120 s) in this run; the next "
          "scheduled run tries again", "1", "failed/http", "HTTP 503 for"),
    Fault("http-404", "network", "HTTP 404 for the topic page",
          "fails the run at once (not retried); nothing is marked vanished", "1",
          "failed/http", "the topic page is gone"),
    Fault("http-410", "network", "HTTP 410 Gone for the topic page",
          "fails the run at once (not retried); nothing is marked vanished", "1",
          "failed/http", "the topic page is gone"),
    Fault("refused", "network", "connection refused (nothing listens on the port)",
          "retries, then fails the run", "1", "failed/network", "Connection was refused"),
    Fault("dns", "network", "DNS failure (an unresolvable host name)",
          "retries, then fails the run", "1", "failed/network", "DNS lookup failed"),
    Fault("read-timeout", "network", "headers and a third of the body, then silence",
          "gives up after `DOWNLOAD_TIMEOUT`, retries, fails the run", "1", "failed/network",
          "took longer than"),
    Fault("never-answers", "network", "a server that accepts the request and never answers",
          "gives up after `DOWNLOAD_TIMEOUT`, retries, fails the run", "1", "failed/network",
          "took longer than"),
    Fault("truncated", "content", "truncated body (`Content-Length` larger than sent)",
          "never parses a partial page: retries, fails the run", "1", "failed/network",
          "ResponseDataLossError"),
    Fault("empty-200", "content", "an empty 200 response",
          "the layout guard fails the run: a listing without items is not trusted", "1",
          "failed/layout", "no listing items were found"),
    Fault("too-large", "content", "a body over `DOWNLOAD_MAXSIZE` (declared length)",
          "stops reading at the limit, fails the run", "1", "failed/content",
          "larger than DOWNLOAD_MAXSIZE"),
    Fault("too-large-unsized", "content", "a body over `DOWNLOAD_MAXSIZE` (no length sent)",
          "stops reading at the limit, fails the run", "1", "failed/content",
          "larger than DOWNLOAD_MAXSIZE"),
    Fault("gzip-bomb", "content", "gzip bomb (64 KB on the wire, 64 MB unpacked)",
          "stops decompressing at `DOWNLOAD_MAXSIZE` (10 MB), fails the run", "1",
          "failed/content", "larger than DOWNLOAD_MAXSIZE"),
    Fault("redirect-loop", "content", "redirect loop (the topic page redirects to itself)",
          "follows at most `REDIRECT_MAX_TIMES` (5), fails the run", "1", "failed/refused",
          "max redirections reached"),
    Fault("redirect-offsite", "content", "redirect to another site",
          "does not follow it (no connection is made), fails the run", "1", "failed/refused",
          "refused to leave the topic's site"),
    Fault("not-html", "content", "non-HTML content type (`application/pdf`)",
          "fails the run without parsing", "1", "failed/content", "not an HTML page"),
    Fault("invalid-bytes", "content", "invalid bytes for the declared encoding inside a summary",
          "reads the page; the garbled field counts as not observed, so it is no edit",
          "0", "ok"),
    Fault("wrong-charset-header", "content",
          "wrong declared encoding: UTF-8 page labelled `Shift_JIS` in the header",
          "decodes by the bytes (valid UTF-8 is UTF-8): no mojibake, no edits", "0", "ok"),
    Fault("wrong-charset-utf8", "content",
          "wrong declared encoding: Shift_JIS page labelled UTF-8 in the header",
          "decodes by the bytes (the clean legacy decoding): no mojibake, no edits", "0", "ok"),
    Fault("malformed-html", "content",
          "malformed HTML: stray and missing end tags, unquoted attributes, bare `&`, "
          "no `</body></html>`", "parses as a browser would: the same items, no changes",
          "0", "ok"),
    Fault("malformed-cards", "content",
          "malformed HTML that nests cards (six cards' `</div>` missing)",
          "reads every card, as a browser closes the open `<div>` at `</article>`: the same "
          "items, no changes", "0", "ok"),
    Fault("page-shift-down", "listing",
          "an article published between page 1 and page 2 of one run (an item moves down)",
          "counts the item seen on both pages once; nothing new, nothing vanished", "0", "ok"),
    Fault("page-shift-up", "listing",
          "an article removed between page 1 and page 2 of one run (an item moves up, unseen)",
          "does not mark the unseen item vanished: no page of the run read its place", "0",
          "ok"),
    Fault("duplicate-url-variants", "listing",
          "the same article twice on one page (`/slug`, `/slug/?utm_source=…`)",
          "canonicalises both links to one item; nothing new", "0", "ok"),
    Fault("duplicate-url-alias", "listing",
          "the same article under a second URL whose page names the first as canonical",
          "follows `rel=canonical`: one item; nothing new", "0", "ok"),
    Fault("layout-change", "listing", "layout change: the list gone, a sidebar still there",
          "never takes a sidebar's list for the topic's: the layout guard fails the run (no "
          "listing items)", "1", "failed/layout", "no listing items were found"),
    Fault("list-collapsed", "listing", "partial break: 5 of the list's 20 cards left",
          "the layout guard fails the run (page 1 under half the usual items)", "1",
          "failed/layout", "under half the usual"),
    Fault("summaries-gone", "listing", "partial break: every summary gone from the cards",
          "archives the run; missing summaries are not observed, never edits "
          "(`summary_coverage` 0 on the run row)", "0", "ok"),
    *HISTORY,
    Fault("sigkill-during-write", "process",
          "SIGKILL of the crawl at a random moment of its archive write (50 runs)",
          "one transaction: the run is wholly in the archive or wholly absent; the next "
          "crawl marks a leftover `running` row aborted and archives normally",
          "−9 (killed); next crawl 0", "aborted/crash", "ended without recording"),
    Fault("sigterm", "process", "SIGTERM while a page is in flight",
          "lets in-flight downloads end (at most `DOWNLOAD_TIMEOUT`), closes the spider, "
          "records the run as aborted; no item changes", "1",
          "aborted/shutdown", "crawl stopped before finishing"),
    Fault("same-topic-busy", "process", "two crawls of the same topic at once",
          "the second is refused at once; the first archives normally", "75 (second)", "–",
          "is being crawled by pid"),
    Fault("same-topic-wait", "process", "two crawls of the same topic at once, `--wait 30`",
          "the second waits for the first, then crawls (and finds nothing new)", "0", "ok"),
    Fault("two-topics", "process", "two topics crawled at once", "both archive normally",
          "0 (both)", "ok"),
    Fault("reader-holds-snapshot", "process",
          "an analyst holds a read transaction open while a crawl writes",
          "WAL: the crawl commits, the reader keeps its snapshot", "0", "ok"),
    Fault("same-name-other-site", "process",
          "a second topic whose URL ends in the same name as an existing topic's",
          "archives it as a separate topic named `name (host)`", "0", "ok"),
    Fault("missing-dir", "storage", "archive directory missing",
          "refuses before anything starts; nothing is written", "2", "–", "does not exist"),
    Fault("read-only-dir", "storage", "archive directory read-only",
          "refuses before anything starts; nothing is written", "2", "–", "not writable"),
    Fault("not-a-database", "storage", "archive file is not a database",
          "refuses; the file is left byte for byte", "2", "–", "is not a topicwatch archive"),
    Fault("newer-schema", "storage", "archive from a newer schema version",
          "refuses; the file is left byte for byte", "2", "–", "newer than this topicwatch"),
    Fault("path-is-directory", "storage", "archive path is a directory",
          "refuses before anything starts", "2", "–", "is a directory"),
    Fault("unknown-option", "input", "`topicwatch crawl --bogus`", "usage error", "2", "–",
          "No such option"),
    Fault("bad-url", "input", "`--url ftp://…` (not http/https)",
          "usage error; no archive is created", "2", "–", "not an http(s) URL"),
    Fault("bad-wait", "input", "`--wait soon` (a bad duration)", "usage error", "2", "–",
          "is not a valid float"),
    Fault("bad-setting-syntax", "input", "`-s DOWNLOAD_DELAY` (no `=`)", "usage error", "2",
          "–", "expected NAME=VALUE"),
    Fault("bad-setting-value", "input", "`-s DOWNLOAD_TIMEOUT=soon` (a bad value)",
          "usage error before Scrapy starts; no archive is created", "2", "–",
          "DOWNLOAD_TIMEOUT"),
    Fault("bad-selectors", "input", "`--selectors '{\"bogus\": \"x\"}'` (an unknown key)",
          "usage error before Scrapy starts", "2", "–", "unknown selector"),
    Fault("bad-config-duration", "input", "daemon config `every = \"5 parsecs\"`",
          "`topicwatch daemon` refuses to start, naming the key", "2", "–",
          "defaults.every"),
    Fault("bad-config-key", "input", "daemon config with an unknown key",
          "`topicwatch daemon` refuses to start, naming the key", "2", "–", "colour"),
    Fault("bad-config-toml", "input", "daemon config that is not TOML",
          "`topicwatch daemon` refuses to start", "2", "–", "tw.toml"),
    Fault("offsite-links", "security", "cards linking to another site",
          "never fetched (no connection) nor stored as items", "0", "ok"),
    Fault("non-http-links", "security",
          "cards linking `javascript:`, `mailto:`, `ftp:`, `file:`, `data:`",
          "never fetched nor stored; only http and https", "0", "ok"),
    Fault("markup-in-text", "security", "`<b>` and `<script>` inside a summary",
          "stores plain text: markup stripped, script content dropped", "0", "ok"),
    Fault("sql-in-text", "security",
          "quotes and `'; DROP TABLE items; --` in a headline, summary and URL",
          "stores them verbatim: every statement is parameterised", "0", "ok"),
    Fault("analysts-read-only", "security", "analysts' commands (`search`, `changes`, …)",
          "open the archive read-only: they cannot write", "0", "–"),
    Fault("secret-in-logs", "security",
          "a webhook URL with a token (path, query, userinfo) that fails",
          "masks it everywhere: daemon log, errors, `topicwatch status`", "0", "–"),
    Fault("webhook-userinfo", "security", "a webhook URL with `user:password@`",
          "sends the credentials only to the webhook, as HTTP Basic auth (never to the "
          "resolver), never prints them", "–"),
    # Hostile files, texts and values (issue 13).
    Fault("foreign-sqlite", "storage",
          "another application's SQLite file as `--db` (its own tables, one named `items`)",
          "refuses — crawl, daemon and every analysts' command — before anything is written; "
          "the file is left byte for byte, with no `-wal` or `-shm` beside it", "2", "–",
          "is not a topicwatch archive"),
    Fault("foreign-sqlite-lookalike", "storage",
          "an SQLite file that only looks empty or ours: only `sqlite_sequence` left, tables "
          "named `topics`, `crawl_runs`, `items` with other columns, or an app's `-wal` "
          "without its `-shm`",
          "refuses, every command, as above; the file alone is read first, so nothing "
          "(no `-shm`) appears beside it (it was taken over, migrated half-way, or given a "
          "`-shm`)", "2", "–", "is not a topicwatch archive"),
    Fault("disk-full-open", "storage",
          "disk full (or the file-size limit reached) when a crawl opens the archive",
          "refuses before writing and says so (it read \"not a topicwatch archive (disk I/O "
          "error)\"); analysts can still read", "2", "–", "disk full"),
    Fault("disk-full-inodes", "storage",
          "no inode left (blocks to spare) when a crawl opens or creates the archive",
          "refuses before writing and says so (it read \"cannot open … (unable to open "
          "database file)\": SQLite could not create the `-wal`)", "2", "–",
          "disk full: no room for new files"),
    Fault("disk-full-output", "storage",
          "an analysts' command whose output goes to a full disk (`changes > out`, "
          "`/dev/full`)", "one line, exit 1 (it was a traceback, or Python's \"Exception "
          "ignored\" at exit)", "1", "–", "cannot write the output"),
    Fault("disk-full-commit", "storage", "the disk fills during the crawl's archive write",
          "the write rolls back: nothing archived changes; the run is recorded as failed "
          "(reason `storage`) with the reason in its words", "1", "failed/storage",
          "disk full"),
    Fault("reader-without-shm", "storage",
          "an analyst who may read but not write the archive's directory, daemon stopped "
          "(no `-shm` file)",
          "reads the file alone (`immutable=1`), then checks no writer touched it; if one "
          "did, the command fails in one line instead of trusting the read; `serve` refuses",
          "0"),
    Fault("lock-symlink", "storage",
          "a symlink planted at a lock file (`<db>.locks/<hash>.lock`, `daemon.lock`) or as "
          "the lock directory",
          "never follows it (`O_NOFOLLOW`): refuses in one line; the target is left byte for "
          "byte", "2", "–", "symbolic link"),
    Fault("lock-dir-unsafe", "storage",
          "a lock directory another user owns, or group or others may write",
          "refuses in one line: nobody else may plant a lock file", "2", "–",
          "refusing lock directory"),
    Fault("config-duration-range", "input",
          "daemon config durations `nan`, `inf`, `1e300`, `\"99999999999d\"` (any key)",
          "`topicwatch daemon` refuses to start, naming the key (it crashed at start, or on "
          "its first timer)", "2", "–", "defaults.every: nan is out of range"),
    Fault("config-bad-url", "input", "daemon config `url = \"http://[::1\"`",
          "`topicwatch daemon` refuses to start, naming the key (it was a traceback)", "2",
          "–", "topic[1].url: not an http(s) URL"),
    Fault("config-reserved-name", "input",
          "a topic named like the daemon's own job (`housekeeping`)",
          "`topicwatch daemon` refuses to start, naming the key (the job ids clashed)", "2",
          "–", "daemon's own jobs"),
    Fault("config-bad-selector", "input", "daemon config selector `item = \"div[\"`",
          "`topicwatch daemon` refuses to start, naming the key (every changed run crashed, "
          "hidden behind 304s)", "2", "–", "not a usable CSS selector"),
    Fault("config-cron-never", "input", "daemon config `cron = \"0 0 30 2 *\"`",
          "`topicwatch daemon` refuses to start: no month has a 30th of February (it ran "
          "once, then never)", "2", "–", "never runs"),
    Fault("config-cron-step", "input", "daemon config `cron = \"*/61 * * * *\"`",
          "`topicwatch daemon` refuses to start: a step beyond its field's range", "2", "–",
          "bad minute field"),
    Fault("config-setting-count", "input",
          "daemon config `[settings] CONCURRENT_REQUESTS = 1.5` (or `-1`, `0`, "
          "`99999999999999999999`; any count: `RETRY_TIMES`, `DOWNLOAD_MAXSIZE`, page caps)",
          "`topicwatch daemon` refuses to start, naming the key, without importing Scrapy "
          "(every crawl child crashed, or stalled); `crawl -s` refuses the same values", "2",
          "–", "settings.CONCURRENT_REQUESTS: expected a whole number from 1 to 256"),
    Fault("config-every-subsecond", "input", "daemon config `every = 0.001` (or `heartbeat`)",
          "`topicwatch daemon` refuses to start: at least 1 s (it crawled back to back)", "2",
          "–", "defaults.every: must be at least 1s"),
    Fault("config-nul", "input",
          "a NUL character in any string or key of the daemon config (`name = \"a\\u0000b\"`, "
          "the db path, a hook's argument)",
          "`topicwatch daemon` refuses to start, naming the key (a NUL in the db path was a "
          "traceback)", "2", "–", "topic[1].name: must not contain a NUL character"),
    Fault("db-path-too-long", "input",
          "`--db` (or the config's `db`) with a 250-byte file name, or a path past SQLite's "
          "512 bytes",
          "one line, nothing created (it made an empty file SQLite then could not open beside "
          "its `-journal`; a longer one was a traceback)", "2", "–",
          "archive file name is too long"),
    Fault("config-deep-selector", "input",
          "a selector nested thousands deep (`:is(:is(…`), or of thousands of characters",
          "`topicwatch daemon` (and `crawl --selectors`) refuses it, quoting its start (a "
          "RecursionError traceback; a 30,000-character error line)", "2", "–",
          "nested too deeply"),
    Fault("port-zero", "input",
          "port 0: `serve --port 0`, a topic URL `http://example.jp:0/…`, `allow_hosts` "
          "entry `cdn.example.jp:0`",
          "usage error (`serve` listened on a random port; the topic URL's port was dropped, "
          "so port 80 was crawled)", "2", "–", "0 is not in the range 1<=x<=65535"),
    Fault("config-not-a-file", "input",
          "`--config` naming a FIFO, `/dev/zero` or a 300 MB file",
          "`topicwatch daemon` (and `status`) refuses at once: a regular file of at most "
          "1 MiB (the FIFO blocked the start for ever; `/dev/zero` was read until the kernel "
          "killed the daemon)", "2", "–", "not a regular file"),
    Fault("config-toml-deep", "input",
          "a daemon config nesting without end: `x = [[[[…` 100,000 deep, inline tables "
          "5,000 deep, a dotted key `a.a.a…` 100,000 deep",
          "`topicwatch daemon` refuses at once (RecursionError tracebacks; the dotted key "
          "kept the start busy for minutes)", "2", "–", "not valid TOML (nested too deeply)"),
    Fault("crawl-wait-range", "input", "`--wait nan` (or `inf`, `1e300`)",
          "usage error (it waited forever)", "2", "–", "out of range"),
    Fault("crawl-setting-infinite", "input", "`-s DOWNLOAD_TIMEOUT=inf`",
          "usage error before Scrapy starts", "2", "–", "expected a finite number"),
    Fault("crawl-bad-selector", "input", "`--selectors '{\"item\": \"div[\"}'`",
          "usage error before Scrapy starts", "2", "–", "not a usable CSS selector"),
    Fault("analyst-out-of-range", "input",
          "analysts' commands given out-of-range input: `changes --since 999999999d`, `asof "
          "0001-01-01T00:00+09:00`, `show-snapshot 99999999999999999999999`, …",
          "one line, exit 2 (they were tracebacks); a property test drives every command "
          "with generated dates, durations, ids and strings", "2", "–", "out of range"),
    Fault("argv-not-utf8", "input",
          "an argument that is not UTF-8 (`topicwatch search $'caf\\xe9'` from a Latin-1 "
          "terminal, under a C or UTF-8 locale)",
          "one line naming the argument, exit 2, before any command runs (it was a "
          "traceback: `surrogates not allowed`)", "2", "–", "is not UTF-8 text: 'caf\\xe9'"),
    Fault("terminal-escapes", "security",
          "`ESC ] 52` (clipboard), `ESC ] 0` (title), `ESC [ 8m` (conceal) or a bidi "
          "override in a headline or summary",
          "archives them as published; every human output shows them escaped (`\\x1b]52;…`), "
          "and CSV or Atom sent to a terminal; JSON escapes them as JSON does", "0", "ok"),
    Fault("log-injection", "security",
          "a line break, `ESC ] 0` or a bidi override in text the daemon logs: a site's "
          "`Content-Type` quoted in a run's error, an alert command's last line of stderr",
          "escapes it in every log line as the command line escapes what it shows (one "
          "module, `topicwatch.printable`): one record per line, text or JSON (it was "
          "written raw)", "–", "failed/content", "application/pdf\\x1b]0;owned\\x07"),
    Fault("snapshot-to-terminal", "security",
          "`show-snapshot` of a page holding `ESC ] 0`, `ESC [ 8m` or a C1 control as raw "
          "bytes, written to a terminal",
          "shows the page decoded with every control escaped (it wrote the raw bytes to the "
          "terminal); to a file or a pipe, the bytes as served", "0", "ok"),
    Fault("serve-function-bound", "security",
          "`serve`: SQL calling topicwatch's function on a 300-million-character string",
          "each registered function reads at most 100,000 characters, so Datasette's time "
          "limit stops a query between calls (one call ran 5.9 s)", "–"),
    Fault("serve-query-size", "security",
          "`serve`: SQL building huge values in one step (`printf('%.*c', 400000000, 'x')` "
          "three times over, `zeroblob(900000000)`, forty 30 MB strings)",
          "no value over 32 MiB (`SQLITE_LIMIT_LENGTH`), no SQL text over 1 MiB, SQLite's "
          "heap under 256 MiB: the query fails or yields NULL, the server stays up (it built "
          "1.2 GB, 6 s past the 3 s time limit)", "–", "–", "string or blob too big"),
    # ---- issue 13: hangs, hosts, webhooks, timing
    Fault("endless-headers", "network",
          "a server that answers a status line, then 8 KB header lines without end, as fast "
          "as they are read",
          "gives the response up at 64 KiB of headers (Scrapy capped only the body: a crawl "
          "grew to 3 GB within an 8 s `DOWNLOAD_TIMEOUT`), retries, fails the run", "1",
          "failed/network", "response headers over 65536 bytes"),
    Fault("retry-after-date-minus-zero", "network",
          "HTTP 503 with `Retry-After: Wed, 21 Oct 2015 07:28:00 -0000` (an HTTP date in "
          "the past, `-0000` zone), once",
          "reads the date as GMT; a date in the past means retry now; archives normally",
          "0", "ok"),
    Fault("retry-after-unreadable", "network",
          "HTTP 503 with an unreadable `Retry-After` (`soon`, `²`, `-5`, `Wed, 32 Oct 2015 …`), "
          "once", "ignores the header and retries with the ordinary backoff; archives normally",
          "0", "ok"),
    Fault("redirect-other-port", "hosts",
          "a redirect to the same host on another port (a metadata or Redis port, say)",
          "does not follow it (no connection is made), fails the run: only the topic's "
          "origin (scheme, host, port) and its `www.` twin are followed", "1",
          "failed/refused", "refused to leave the topic's site"),
    Fault("redirect-subdomain", "hosts", "a redirect to a subdomain of the topic's host",
          "does not follow it (no name is looked up), fails the run", "1", "failed/refused",
          "refused to leave the topic's site"),
    Fault("article-redirect-other-port", "hosts",
          "an article page (fetched for its details) redirecting to another port",
          "does not follow it (no connection is made); the item is archived from the "
          "listing", "0", "ok"),
    Fault("redirect-allowed-host", "hosts",
          "a redirect to another host listed in the topic's `allow_hosts` (daemon config)",
          "follows it and archives the listing found there", "–", "ok"),
    Fault("bad-allow-hosts", "hosts",
          "an `allow_hosts` entry that is no host (a URL, a wildcard, a bad port, empty)",
          "`topicwatch daemon` (and `crawl -s TOPICWATCH_ALLOW_HOSTS=…`) refuses to start, "
          "naming the key", "2", "–", "allow_hosts"),
    Fault("check-drip", "daemon",
          "a scheduled check's conditional GET answered `304` and then one header byte every "
          "0.2 s, for ever (two such topics, `concurrency = 2`)",
          "the crawl in the warm worker gives the page up after `DOWNLOAD_TIMEOUT` in all "
          "(Scrapy's download timeout, not per read) and the run fails; a third topic runs "
          "meanwhile", "–", "failed/network", "took longer than"),
    Fault("check-drip-timeout", "daemon",
          "the same, with the topic's `timeout` shorter than `DOWNLOAD_TIMEOUT`",
          "the worker ends the run at the topic's timeout and records it, so no job holds its "
          "concurrency slot or the topic's lock past it; the worker goes on with other topics",
          "–", "failed/timeout", "timeout"),
    Fault("check-drip-sigterm", "daemon", "SIGTERM while a scheduled check's 304 drips",
          "stops the worker's crawl within `shutdown_grace` (the run recorded `aborted`, "
          "reason `shutdown`) and exits within `shutdown_grace` plus a few seconds",
          "0 (daemon)", "aborted/shutdown"),
    Fault("webhook-endless-headers", "daemon",
          "a webhook (the daemon's only HTTP client) answered with a header block that never "
          "ends: 64 KB header lines, or `100 Continue` answers, without end",
          "stops reading at 64 KiB of headers in all and lets go of the connection: the "
          "alert stays pending (a server sent 19 GB of `100 Continue` into one 20 s "
          "deadline)", "–", "–", "response headers over"),
    Fault("signal-at-start", "daemon",
          "SIGTERM or Ctrl-C (SIGINT) while the daemon starts: during its settings check (a "
          "child importing Scrapy), or while it imports the scheduler",
          "stops at once and exits 0, having started nothing (SIGTERM killed it by the "
          "signal, Ctrl-C printed a KeyboardInterrupt traceback)", "0 (daemon)", "–"),
    Fault("webhook-drip", "daemon", "an alert webhook that drips its answer",
          "gives the delivery up after 10 s in all; alerts go out on a thread of their own, "
          "so crawls and the heartbeat never wait on a hook; `status` says the alert is "
          "pending, not sent; SIGTERM still stops the daemon", "0 (daemon)", "–",
          "alert pending"),
    Fault("command-hook-floods", "daemon",
          "an alert command that prints without end (`yes`), on stdout or stderr; or an "
          "alert text of 200,000 characters",
          "reads none of its stdout and keeps the last 4 KiB of its stderr until its timeout "
          "(it kept everything: 4 GB in 5 s); the text goes whole on stdin, cut to 4,096 "
          "characters in `TOPICWATCH_TEXT` (exec failed: E2BIG)", "–", "–", "timed out after"),
    Fault("webhook-redirect", "daemon",
          "an alert webhook (with `user:password@`) answering `302` to another host",
          "never follows it (the credentials and payload go nowhere else): only a 2xx answer "
          "to the POST is delivered; the alert stays pending with the reason and is retried",
          "–", "–", "redirects are not followed"),
    Fault("stuck-job", "daemon",
          "a crawl job still running a heartbeat after its topic's `timeout` (here: a crawl "
          "ignoring SIGTERM)",
          "the heartbeat's watchdog records a `stuck` event and alerts at once; `status` "
          "shows `STUCK: running for …, over its … timeout (…)` until the job ends", "–",
          "failed/timeout", "over its"),
    Fault("sigstop", "daemon",
          "the daemon stopped past due runs (SIGSTOP: a laptop suspend, a stopped container), "
          "then continued (SIGCONT)",
          "runs each topic once, at once, standing for the due time nearest its start, and "
          "records the due times left without a run as `missed` (`daemon_events`): no two "
          "runs of a topic less than half an interval apart", "–", "ok",
          "did not start on time"),
    Fault("volatile-fragments", "text",
          "relative times (`48分前`), view counters (`1,234 views`, `閲覧数 52`, `👁 120`) and "
          "badges (`NEW!`, `【UP】`) beside headlines and summaries, in elements of their own "
          "without a telling class, changing from run to run",
          "reads them as no part of the headline or summary (`3日前の地震` keeps its words): "
          "no edits, run after run", "0", "ok"),
    Fault("volatile-shapes", "text",
          "the same fragments in other forms, changing from run to run: other units and "
          "widths (`3年前`, `１時間前`, `数時間前`, `Updated 3 hours ago`), any number beside a "
          "counting noun (`1,234回再生`, `再生回数 1,234`, `閲覧数：１，２３４`, `1.2k views`), "
          "reading times (`5 min read`), badges (`ＮＥＷ！`, `速報`, a leading `PR`, `【ＰＲ】`)",
          "knows a fragment by its shape (a number and a unit or counting noun) in its NFKC "
          "form: no edits; a headline that ends in a real year (`2024年`) is an edit and keeps "
          "it, and a trailing word (`Apple PR`) is text", "0", "ok"),
    Fault("invisible-and-decorated", "text",
          "headlines that gain and lose, run to run, a soft hyphen (`&shy;`), a zero-width "
          "space or a bidi mark inside, or a badge between decorations or with a colon before "
          "them (`★NEW★`, `■速報■`, `[Updated]`, `速報：`, `UPDATE:`)",
          "compares what a reader sees: invisible characters (default-ignorable code points) "
          "do not count, and such badges are fragments: no edits", "0", "ok"),
    Fault("furigana-hidden", "text",
          "headlines with furigana (`<ruby>北極<rp>(</rp><rt>よみ</rt><rp>)</rp></ruby>`) and "
          "hidden spans (`hidden`, `display: none`) in one run, plain the next",
          "reads the text a reader sees: readings (`<rt>`, `<rp>`) and hidden elements are no "
          "part of it: no edits (each headline was edited, then edited back)", "0", "ok"),
    Fault("spelling-variants", "text",
          "headlines whose characters change spelling between runs but not meaning: `〜`/`～`, "
          "`―`/`—`, `－`/`−` (the Windows-31J and JIS tables read the same Shift_JIS bytes "
          "so), smart quotes and `--` from a CMS filter",
          "folds these variants for comparing (stored text stays as published): no edits",
          "0", "ok"),
    Fault("mislabelled-stray-bytes", "text",
          "a UTF-8 page labelled `Shift_JIS` with stray invalid bytes (in a comment and in "
          "one summary)", "decodes by the bytes: valid UTF-8 sequences far outnumber the bad "
          "bytes, so UTF-8 wins over a clean-looking Shift_JIS mojibake; the summary holding a "
          "bad byte counts as not observed: no mojibake, no edits", "0", "ok"),
    Fault("mislabelled-scored", "text",
          "one listing mislabelled five ways in turn: EUC-JP as `windows-1252`, Shift_JIS as "
          "`ISO-8859-1`, EUC-JP as `Shift_JIS`, Shift_JIS as `EUC-JP`, EUC-JP with stray "
          "bytes as `UTF-8`",
          "scores every candidate decoding (kana and common kanji for, half-width katakana, "
          "rare kanji and unreadable bytes against) and reads the page by the best: no "
          "mojibake, no edits (a Latin-1 reading of Japanese bytes scored nothing, so it was "
          "archived as an edit of every item)", "0", "ok"),
    Fault("bad-card-fields", "text",
          "cards with unreadable dates (`1000000日前`, a 5,000-digit relative time) and JSON-LD "
          "text ending in a lone surrogate",
          "drops or cleans the bad field of that card and counts it (`Listing.cleaned`); the "
          "rest of the page is archived: no failed run, no edits", "0", "ok"),
    Fault("jsonld-foreign-things", "text",
          "a JSON-LD `ItemList` of the 20 articles (values as `{\"@value\": …}`, `{\"@id\": "
          "…}`, lists) that also lists a `Person`, `Organization`, `WebSite`, beside a "
          "`BreadcrumbList`, and elements whose URL is a lone surrogate, an object or a number",
          "takes only article-like things (`*Article`, `*Posting`, `WebPage`, untyped items) "
          "and reads values by their JSON-LD shape; a junk URL drops its element alone and "
          "is counted (`fields_cleaned` 3): the 20 items, nothing new, no edits (the "
          "surrogate URL failed the run; authors and "
          "the publisher became items; `{'@value': …}` became a headline)", "0", "ok"),
    Fault("dates-other-forms", "text",
          "new cards dated only in text: in full-width digits (`２０２６年１２月１日`), in years "
          "(`3年前`), in English (`Updated 3 hours ago`)",
          "reads each date in its NFKC form and every unit (年, 週, English `… ago`): the new "
          "items are dated (they had no date, so the layout could not order them)", "0",
          "ok"),
    Fault("hostile-text", "text",
          "a 7 MB listing of hostile text: a 3 MB summary of `…`, a 20,000-digit date, "
          "100,000 badges in one headline", "reads it in seconds (every text rule is linear) "
          "and cuts fields to their caps (headline 500, summary 5,000 characters); the hostile "
          "cards are new items, the others unchanged", "0", "ok"),
]  # fmt: skip


def rows(*groups: str) -> list[Fault]:
    """The matrix rows of the given groups, in table order."""
    return [fault for fault in MATRIX if fault.group in groups]


def row(fault_id: str) -> Fault:
    return next(fault for fault in MATRIX if fault.id == fault_id)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The document's tables, one per group."""
    parts = []
    for group, title in GROUPS.items():
        lines = [
            f"### {title}",
            "",
            "| fault | what topicwatch does | exit | run recorded | error (excerpt) |",
            "|---|---|---|---|---|",
        ]
        for fault in rows(group):
            does = fault.does + (f" — **open defect:** today {fault.gap}" if fault.gap else "")
            error = f"“{fault.error}”" if fault.error else ""
            run = f"`{fault.run}`" if fault.run != "–" else "–"
            cells = (fault.fault, does, fault.exit, run, error)
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def documented() -> str:
    """The tables as the document has them now."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(re.escape(BEGIN) + r"\n(.*)\n" + re.escape(END), text, re.S)
    return match.group(1) if match else ""


def write() -> None:
    """Rewrite the document's tables from the matrix."""
    text = DOC.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{render()}\n{END}"
    pattern = re.compile(re.escape(BEGIN) + r".*" + re.escape(END), re.S)
    DOC.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"{DOC}: {len(MATRIX)} rows", file=sys.stderr)
