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
    "text": "The text of a listing",
    "process": "Processes and concurrency",
    "storage": "The archive file",
    "input": "Operator input",
    "security": "Security",
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
          "the layout guard fails the run (page 1 under half the usual items)", "1",
          "failed/layout", "under half the usual"),
    Fault("summaries-gone", "listing", "partial break: every summary gone from the cards",
          "archives the run; missing summaries are not observed, never edits "
          "(`summary_coverage` 0 on the run row)", "0", "ok"),
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
    Fault("volatile-fragments", "text",
          "relative times (`48分前`), view counters (`1,234 views`, `閲覧数 52`, `👁 120`) and "
          "badges (`NEW!`, `【UP】`) beside headlines and summaries, in elements of their own "
          "without a telling class, changing from run to run",
          "reads them as no part of the headline or summary (`3日前の地震` keeps its words): "
          "no edits, run after run", "0", "ok"),
    Fault("mislabelled-stray-bytes", "text",
          "a UTF-8 page labelled `Shift_JIS` with stray invalid bytes (in a comment and in "
          "one summary)", "decodes by the bytes: valid UTF-8 sequences far outnumber the bad "
          "bytes, so UTF-8 wins over a clean-looking Shift_JIS mojibake; the summary holding a "
          "bad byte counts as not observed: no mojibake, no edits", "0", "ok"),
    Fault("bad-card-fields", "text",
          "cards with unreadable dates (`1000000日前`, a 5,000-digit relative time) and JSON-LD "
          "text ending in a lone surrogate",
          "drops or cleans the bad field of that card and counts it (`Listing.cleaned`); the "
          "rest of the page is archived: no failed run, no edits", "0", "ok"),
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
