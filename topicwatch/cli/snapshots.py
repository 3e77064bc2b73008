"""Commands over the archive's evidence: show-snapshot and prune (reparse: cli/reparse.py)."""

from __future__ import annotations

import sys
import tempfile
import webbrowser
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import sqlite_utils

from topicwatch.archive.durations import parse_duration
from topicwatch.archive.lookup import MAX_ROW_ID, parse_row_id
from topicwatch.archive.snapshots import prune, snapshot_body
from topicwatch.cli.options import archive_at, db_option
from topicwatch.cli.output import Problem, say, to_terminal
from topicwatch.printable import printable_lines

DAY = 86400.0
MAX_KEEP = 100 * 365 * DAY  # further back than that, no snapshot exists


def _keep_seconds(keep: str) -> float:
    """``--keep`` in the one duration grammar, where ``m`` is minutes: a keep under a day is
    refused, since it is nearly always "months" written as ``m``."""
    try:
        seconds = parse_duration(keep)
    except ValueError as error:
        raise Problem(f"--keep: {error}") from None
    if seconds < DAY:
        raise Problem(f"--keep {keep} keeps less than a day ('m' is minutes; 3 months is 90d)")
    if seconds > MAX_KEEP:
        raise Problem(f"--keep {keep}: out of range (at most {MAX_KEEP // DAY:.0f}d)")
    return seconds


@click.command(name="show-snapshot")
@click.argument("target")
@db_option
@click.option(
    "--page",
    type=click.IntRange(1, MAX_ROW_ID),
    default=1,
    show_default=True,
    help="Listing page of a run.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
@click.option("--open", "open_it", is_flag=True, help="Open it in a web browser.")
def show_snapshot_command(
    target: str, db: str, page: int, output: str | None, open_it: bool
) -> None:
    """Write the page exactly as the site served it, for a run or an item version.

    TARGET is a run id (its listing page --page), or v<ID> for an item version (the
    listing page that version was read from). Bytes are written unchanged (Shift_JIS
    stays Shift_JIS); without --output or --open they go to standard output.

    \b
    Example:
        topicwatch show-snapshot 42 -o run42.html
        topicwatch show-snapshot v1337 --open
    """
    with archive_at(db, readonly=True) as archive:
        body = snapshot_body(archive, _snapshot_for(archive, target, page))
    if open_it:
        with tempfile.NamedTemporaryFile("wb", suffix=".html", delete=False) as handle:
            handle.write(body)
        webbrowser.open(Path(handle.name).as_uri())
        click.echo(handle.name)
    elif output:
        Path(output).write_bytes(body)
    elif to_terminal():
        click.echo(terminal_text(body))
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()


# The encodings Japanese news pages come in; a body none of them decodes is shown with
# its undecodable bytes escaped.
_TERMINAL_ENCODINGS = ("utf-8", "cp932", "euc-jp")


def terminal_text(body: bytes) -> str:
    """``body`` as a terminal may be sent it: decoded, tabs expanded, line breaks kept and
    every other control character escaped (:func:`topicwatch.printable.printable_lines`).
    The raw bytes are for files and pipes: a C1 byte or ``ESC ] 52`` would act on the
    terminal (a Shift_JIS lead byte is a C1 control to an 8-bit terminal)."""
    for encoding in _TERMINAL_ENCODINGS:
        try:
            text = body.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = body.decode("utf-8", "backslashreplace")
    return printable_lines(text.replace("\r\n", "\n").expandtabs(8))


def _snapshot_for(archive: sqlite_utils.Database, target: str, page: int) -> int:
    version = target[:1].lower() == "v" and target[1:].isascii() and target[1:].isdigit()
    if not version and not (target.isascii() and target.isdigit()):
        raise click.BadParameter("expected a run id or v<version id>", param_hint="TARGET")
    number = parse_row_id(target[1:] if version else target)  # None: beyond any row id
    if version:
        sql = "SELECT snapshot_id FROM item_versions WHERE id = ?"
        params: list[int | None] = [number]
        what = f"item version {target[1:]}"
    else:
        sql = (
            "SELECT snapshot_id FROM fetches WHERE run_id = ? AND kind = 'listing'"
            " AND coalesce(page, 1) = ?"
        )
        params, what = [number, page], f"run {target} page {page}"
    row = None if number is None else archive.execute(sql, params).fetchone()
    if row is None or row[0] is None:
        raise Problem(f"no stored snapshot for {what}")
    return int(row[0])


@click.command(name="prune")
@db_option
@click.option("--keep", required=True, help="Keep snapshots fetched within this (e.g. 90d).")
@click.option(
    "--keep-evidence/--no-keep-evidence",
    default=True,
    show_default=True,
    help="Keep snapshots that are the only evidence of an item version, whatever their age.",
)
@click.option("--dry-run", is_flag=True, help="Report what would be freed; delete nothing.")
def prune_command(db: str, keep: str, keep_evidence: bool, dry_run: bool) -> None:
    """Delete old page snapshots and report the bytes freed.

    SQLite reuses the freed pages; to shrink the file itself run VACUUM while no crawl
    runs (see docs/operations.md).

    \b
    Example:
        topicwatch prune --keep 90d
        topicwatch prune --keep 30d --no-keep-evidence --dry-run
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=_keep_seconds(keep))
    with archive_at(db, readonly=dry_run) as archive:
        result = prune(archive, cutoff, keep_evidence=keep_evidence, dry_run=dry_run)
    verb = "would free" if dry_run else "freed"
    say(
        f"{result.snapshots} snapshots older than {keep}: {verb} {result.bytes_freed} bytes;"
        f" {result.kept_as_evidence} kept as the only evidence of a version"
    )
