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
import math
import types
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from topicwatch.archive.changes import Sighting
from topicwatch.archive.enrichment import Article
from topicwatch.archive.snapshots import Fetch
from topicwatch.archive.store import PageResult, RunReport

FORMAT = 1
STATUSES = ("ok", "failed", "aborted")
T = TypeVar("T")


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
        try:
            _read(record, number, job, wanted, fetches, ended)
        except FeedError:
            raise
        except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as error:
            # A node's feed is data, not trusted code: a value of the wrong shape fails the
            # read (the run fails on record), never the commit after it, half way.
            raise FeedError(f"record {number}: {type(error).__name__}: {error}") from None
    return ended


def _read(
    record: dict[str, Any],
    number: int,
    job: str,
    wanted: set[int],
    fetches: dict[int, dict[int, Fetch]],
    ended: dict[int, FeedRun],
) -> None:
    if record.get("job") != job:
        raise FeedError(f"record {number} is for job {record.get('job')!r}, not {job!r}")
    run = record.get("run")
    if type(run) is not int or run not in wanted:
        raise FeedError(f"record {number} is for run {run!r}, not one of this job's")
    if run in ended:
        raise FeedError(f"record {number} follows the end record of run {run}")
    if record.get("type") == "fetch":
        fetches[run][_typed(int, record["seq"])] = _fetch(record)
    elif record.get("type") == "end":
        ended[run] = _end(record, fetches[run])


def _record(line: bytes, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as error:
        raise FeedError(f"record {number} is not JSON ({error})") from None
    if not isinstance(record, dict):
        raise FeedError(f"record {number} is not a JSON object")
    return record


def _fetch(record: dict[str, Any]) -> Fetch:
    body = record.get("body")
    return _made(Fetch, {
        "kind": record["kind"], "url": record["url"], "page": record.get("page"),
        "fetched_at": datetime.fromisoformat(record["fetched_at"]), "status": record["status"],
        "content_type": record.get("content_type"), "etag": record.get("etag"),
        "last_modified": record.get("last_modified"),
        "body": None if body is None else base64.b64decode(body, validate=True),
    })  # fmt: skip


def _end(record: dict[str, Any], fetches: dict[int, Fetch]) -> FeedRun:
    try:
        order = [fetches[seq] for seq in record["fetch_order"]]
    except KeyError as missing:
        raise FeedError(f"run {record['run']}: fetch {missing} is not in the feed") from None
    body = record["report"]
    report = _made(RunReport, {
        "pages": tuple(_page(page) for page in body["pages"]),
        "gap_suspected": body["gap_suspected"],
        "coverage": body["coverage"],
        "articles": tuple(_made(Article, {**a, "tags": tuple(a["tags"])})
                          for a in body["articles"]),
        "article_failures": body["article_failures"],
        "fetches": tuple(order),
        "extractor_version": body["extractor_version"],
        "partial": body["partial"],
        "fields_cleaned": body["fields_cleaned"],
        "stopped_looking": body["stopped_looking"],
    })  # fmt: skip
    if record["status"] not in STATUSES:
        raise FeedError(f"run {record['run']}: status {record['status']!r} is not a run's")
    names = ("status", "reason", "error", "pages", "version", "extractor_version")
    fields = {name: record[name] for name in names}
    return _made(FeedRun, {"run_id": record["run"], **fields, "report": report})


def _page(page: dict[str, Any]) -> PageResult:
    sightings = tuple(
        _made(Sighting, {**s, "tags": tuple(s["tags"]), "truncated": tuple(s["truncated"])})
        for s in page["sightings"]
    )
    # body_sha256 and extraction: the body the page was parsed from and how, so the next
    # check of the same body reads it as unchanged (absent from a node older than them).
    return _made(PageResult, {
        "url": page["url"], "page": page["page"], "not_modified": page["not_modified"],
        "etag": page["etag"], "last_modified": page["last_modified"], "sightings": sightings,
        "body_sha256": page.get("body_sha256"), "extraction": page.get("extraction"),
    })  # fmt: skip


def _made(cls: type[T], values: dict[str, Any]) -> T:
    """``cls(**values)``, every value of its field's declared type: a None headline or a
    number past SQLite's integers would otherwise fail the commit, not the read."""
    hints = get_type_hints(cls)
    for name, value in values.items():
        if name not in hints or not _fits(value, hints[name]):
            raise FeedError(
                f"{cls.__name__}.{name}: {str(value)[:40]!r} is not a {hints.get(name)}"
            )
    return cls(**values)


def _typed(hint: Any, value: Any) -> Any:
    if not _fits(value, hint):
        raise FeedError(f"{str(value)[:40]!r} is not a {hint}")
    return value


def _fits(value: Any, hint: Any) -> bool:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is tuple:
        return isinstance(value, tuple) and all(_fits(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _fits(key, args[0]) and _fits(item, args[1]) for key, item in value.items()
        )
    if hint is int:
        return type(value) is int and -(2**63) <= value < 2**63  # SQLite's INTEGER
    if hint is float:
        return type(value) in (int, float) and math.isfinite(value)
    if hint is None or hint is type(None):
        return value is None
    return type(value) is hint
