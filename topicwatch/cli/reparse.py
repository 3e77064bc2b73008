"""``topicwatch reparse``: re-read stored snapshots with the current extractor.

Its own module because it is the one analysts' command that needs the extractor (lxml):
the others stay free of it (tests/test_layering.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from topicwatch.cli.options import archive_at, db_option, resolve_moment
from topicwatch.cli.output import say


@click.command(name="reparse")
@db_option
@click.option("--topic", help="Only this topic (its name).")
@click.option("--since", help="Only runs since WHEN (ISO date/time or 24h, 7d, ...).")
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
def reparse_command(db: str, topic: str | None, since: str | None, dry_run: bool) -> None:
    """Re-read stored listing snapshots with the current extractor.

    Edits that came from the old extractor rather than the page become kind
    'reextracted'; items whose text reads differently now get a new version of kind
    'reextracted'. Old versions stay for audit. Run it after upgrading topicwatch.

    \b
    Example:
        topicwatch reparse --dry-run
        topicwatch reparse --topic nato --since 30d
    """
    from topicwatch.crawler.reparse import reparse  # lxml: only this command reads pages

    now = datetime.now(UTC)
    moment = resolve_moment(since, now, "--since")
    with archive_at(db, readonly=dry_run) as archive:
        result = reparse(archive, now=now, topic=topic, since=moment, dry_run=dry_run)
    for change_id, url, run_id in result.plan.relabel:
        say(f"edited -> reextracted: change {change_id} (run {run_id}) {url}")
    for version in result.plan.versions:
        say(f"new version (reextracted): {version.url}")
        say(f"    headline: {version.before[0]!r} -> {version.after[0]!r}")
        if version.before[1] != version.after[1]:
            say(f"    summary:  {version.before[1]!r} -> {version.after[1]!r}")
    verb = "would change" if dry_run else "changed"
    click.echo(
        f"{result.pages} snapshots re-read; {verb}: {len(result.plan.relabel)} edits relabelled,"
        f" {len(result.plan.versions)} new versions"
    )
