"""A topic run as a feed: what a Scrapyd node sends instead of writing the archive.

A node never opens SQLite. Its crawl emits each run as JSON lines (Scrapy's feed export):
one ``fetch`` record per page body received (the body base64-encoded), then the run's
``end`` record: its outcome, reason, counts, the extractor and topicwatch versions, and
the :class:`~archive.store.RunReport` without its bodies. Every record names its Scrapyd
job and its run (the daemon's ``crawl_runs`` id). Scrapyd lists a SIGKILLed crawl as
"finished" like a good one, so a run without its ``end`` record is a failed run; a
record for another job (a reused job id: Scrapy appends to an existing feed) or after
the run's ``end`` makes the feed unusable. One module writes and reads the format, so the
node and the daemon cannot disagree about it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from topicwatch.archive.changes import Sighting
from topicwatch.archive.enrichment import Article
from topicwatch.archive.snapshots import Fetch
from topicwatch.archive.store import PageResult, RunReport

FORMAT = 1


class FeedError(ValueError):
    """A feed the daemon must not commit from (another job's records, records after end)."""


@dataclass(frozen=True)
class FeedRun:
    """One run as its feed told it: an outcome, and for an ok run the report to commit."""

    run_id: int
    status: str  # "ok", "failed" or "aborted"
    reason: str
    error: str
    pages: int
    report: RunReport
    version: str
    extractor_version: str


def fetch_record(job: str, run_id: int, seq: int, fetch: Fetch) -> dict[str, Any]:
    """One page body received, JSON-safe."""
    return {
        "type": "fetch", "job": job, "run": run_id, "seq": seq, "kind": fetch.kind,
        "url": fetch.url, "page": fetch.page, "fetched_at": fetch.fetched_at.isoformat(),
        "status": fetch.status, "content_type": fetch.content_type, "etag": fetch.etag,
        "last_modified": fetch.last_modified,
        "body": None if fetch.body is None else base64.b64encode(fetch.body).decode("ascii"),
    }  # fmt: skip


def end_record(
    job: str,
    run_id: int,
    *,
    outcome: tuple[str, str, str],
    report: RunReport,
    fetch_order: Sequence[int],
    version: str,
) -> dict[str, Any]:
    """The run's last record: its outcome (status, reason, error) and what to commit."""
    status, reason, error = outcome
    body = asdict(report)
    body.pop("fetches")
    return {
        "type": "end", "job": job, "run": run_id, "format": FORMAT, "status": status,
        "reason": reason, "error": error, "pages": len(report.pages),
        "items": sum(len(page.sightings) for page in report.pages),
        "extractor_version": report.extractor_version, "version": version,
        "fetch_order": list(fetch_order), "report": body,
    }  # fmt: skip


def read_feed(lines: Iterable[bytes], job: str, runs: Iterable[int]) -> dict[int, FeedRun]:
    """The runs of job ``job`` that reached their end record (the others: absent).

    Raises FeedError for a record that is not JSON, names another job or a run not asked
    of this job, or follows its run's end record."""
    wanted = set(runs)
    fetches: dict[int, dict[int, Fetch]] = {run: {} for run in wanted}
    ended: dict[int, FeedRun] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _record(line, number)
        if record.get("job") != job:
            raise FeedError(f"record {number} is for job {record.get('job')!r}, not {job!r}")
        run = record.get("run")
        if run not in wanted:
            raise FeedError(f"record {number} is for run {run!r}, not one of this job's")
        if run in ended:
            raise FeedError(f"record {number} follows the end record of run {run}")
        if record.get("type") == "fetch":
            fetches[run][int(record["seq"])] = _fetch(record)
        elif record.get("type") == "end":
            ended[run] = _end(record, fetches[run])
    return ended


def _record(line: bytes, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as error:
        raise FeedError(f"record {number} is not JSON ({error})") from None
    if not isinstance(record, dict):
        raise FeedError(f"record {number} is not a JSON object")
    return record


def _fetch(record: dict[str, Any]) -> Fetch:
    body = record.get("body")
    return Fetch(
        str(record["kind"]), str(record["url"]), record.get("page"),
        datetime.fromisoformat(record["fetched_at"]), int(record["status"]),
        record.get("content_type"), record.get("etag"), record.get("last_modified"),
        None if body is None else base64.b64decode(body),
    )  # fmt: skip


def _end(record: dict[str, Any], fetches: dict[int, Fetch]) -> FeedRun:
    try:
        order = [fetches[seq] for seq in record["fetch_order"]]
    except KeyError as missing:
        raise FeedError(f"run {record['run']}: fetch {missing} is not in the feed") from None
    body = record["report"]
    report = RunReport(
        pages=tuple(_page(page) for page in body["pages"]),
        gap_suspected=bool(body["gap_suspected"]),
        coverage=dict(body["coverage"]),
        articles=tuple(Article(**{**a, "tags": tuple(a["tags"])}) for a in body["articles"]),
        article_failures=dict(body["article_failures"]),
        fetches=tuple(order),
        extractor_version=str(body["extractor_version"]),
        partial=str(body["partial"]),
        fields_cleaned=int(body["fields_cleaned"]),
        stopped_looking=bool(body["stopped_looking"]),
    )
    return FeedRun(
        int(record["run"]), str(record["status"]), str(record["reason"]),
        str(record["error"]), int(record["pages"]), report, str(record["version"]),
        str(record["extractor_version"]),
    )  # fmt: skip


def _page(page: dict[str, Any]) -> PageResult:
    sightings = tuple(
        Sighting(**{**s, "tags": tuple(s["tags"]), "truncated": tuple(s["truncated"])})
        for s in page["sightings"]
    )
    # body_sha256 and extraction: the body the page was parsed from and how, so the next
    # check of the same body reads it as unchanged (absent from a node older than them).
    return PageResult(
        page["url"], page["page"], page["not_modified"], page["etag"],
        page["last_modified"], sightings, page.get("body_sha256"), page.get("extraction"),
    )  # fmt: skip
