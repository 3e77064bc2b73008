"""``topicwatch daemon`` and ``topicwatch status``: run the scheduler, and report on it.

``daemon`` checks the configuration, the archive and the crawl settings first (so a bad
key exits 2 before anything starts), then runs the daemon in this very process: one
command line, one pid for systemd, and never Scrapy in the daemon's memory.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from topicwatch.archive import ArchiveError, open_archive
from topicwatch.archive.daemon_state import pid_alive
from topicwatch.archive.daemon_status import Status, TopicStatus, read_status
from topicwatch.archive.db import check_archive, confirm_read
from topicwatch.archive.lock import check_lock_dir
from topicwatch.archive.runs import run_counts
from topicwatch.archive.scrapyd_jobs import NodeState
from topicwatch.archive.timestamps import parse_iso
from topicwatch.cli.options import config_option
from topicwatch.cli.output import Problem, say
from topicwatch.daemon.config import Config, ConfigError, load_config
from topicwatch.daemon.log import span
from topicwatch.printable import to_json


def _load(config_path: str | None, db: str | None = None) -> Config:
    try:
        return load_config(config_path, db=db)
    except ConfigError as error:
        raise Problem(str(error)) from None


@click.command(name="daemon")
@config_option
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False),
    help="Archive file, instead of the config's db (a service's state directory).",
)
@click.option("--log-json", is_flag=True, help="Log JSON lines instead of text lines.")
def daemon_command(config_path: str | None, db: str | None, log_json: bool) -> None:
    """Crawl every configured topic on its schedule until stopped.

    Without a config file: the default NATO topic every 30 minutes into
    ./topicwatch.db. SIGTERM or Ctrl-C stops it cleanly (running crawls get
    shutdown_grace to finish). Exit status: 0 stopped, 2 bad config or archive,
    75 another daemon already runs on this archive. See docs/operations.md.

    \b
    Examples:
        topicwatch daemon
        topicwatch daemon --config /etc/topicwatch.toml --log-json
        topicwatch daemon --config /etc/topicwatch/topicwatch.toml \\
            --db /var/lib/topicwatch/topicwatch.db
    """
    _stop_quietly_until_running()
    config = _load(config_path, db)
    try:
        check_archive(config.db)  # another application's file: refuse before the daemon starts
        check_lock_dir(config.db)
    except ArchiveError as error:
        raise Problem(str(error)) from None
    _check_crawl_settings(config)
    from topicwatch.daemon.service import run  # APScheduler: only this command runs it

    sys.exit(run(config, log_json=log_json))


def _stop_quietly_until_running() -> None:
    """SIGTERM or Ctrl-C before the daemon runs (its checks take a second or two, the
    settings check a child process): stop now, exit 0, with nothing to undo. Without this
    SIGTERM killed the process by the signal and Ctrl-C printed a KeyboardInterrupt
    traceback; the daemon's own handlers replace these once it starts."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # unwinds the checks: a settings child is killed on the way

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _check_crawl_settings(config: Config) -> None:
    """[settings] become every crawl's ``-s``: a bad value would fail each run, so it is
    checked now, as ``topicwatch crawl`` checks it, in a child (the daemon never imports
    Scrapy; see topicwatch.crawler.check_settings)."""
    if not config.settings:
        return
    checked = subprocess.run(
        [sys.executable, "-m", "topicwatch.crawler.check_settings"],
        input=json.dumps(config.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if checked.returncode != 0:
        where = f"{config.path}: " if config.path else ""
        problem = checked.stderr.strip().splitlines()[-1:] or [f"exit {checked.returncode}"]
        raise Problem(f"{where}settings: {problem[0]}")


@click.command(name="status")
@click.option(
    "--db",
    "db",
    envvar="TOPICWATCH_DB",
    type=click.Path(dir_okay=False),
    help="Archive file. Default: the config's db (./topicwatch.db), or $TOPICWATCH_DB.",
)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as a JSON object.")
def status_command(db: str | None, config_path: str | None, as_json: bool) -> None:
    """Show whether the daemon is alive and, per topic, the last and next run.

    Reads the archive only: safe while the daemon runs, and works after it died.

    \b
    Examples:
        topicwatch status
        topicwatch status --db nato.db --json
    """
    path = Path(db) if db else _load(config_path).db
    now = datetime.now(UTC)
    try:
        archive = open_archive(path, readonly=True)
    except ArchiveError as error:
        raise Problem(str(error)) from None
    try:
        status = read_status(archive, now, hostname=socket.gethostname(), is_alive=pid_alive)
        confirm_read(archive)
    except ArchiveError as error:
        raise Problem(str(error)) from None
    finally:
        archive.close()
    if as_json:
        click.echo(to_json(status.to_json()))
    else:
        for line in format_status(status, now):
            say(line)


def format_status(status: Status, now: datetime) -> list[str]:
    """The text form of ``topicwatch status``: the daemon, then one block per topic."""
    lines = [_daemon_line(status, now)]
    for worker in status.workers:
        running = f", crawling {', '.join(worker.topics)}" if worker.topics else ""
        draining = " (draining)" if worker.draining else ""
        memory = "" if worker.rss_mb is None else f", {worker.rss_mb:g} MiB"
        lines.append(
            f"  crawl worker pid {worker.pid}{draining}: up"
            f" {_ago(parse_iso(worker.started_at), now, '')}, {worker.runs_done} run(s)"
            f"{memory}{running}"
        )
    for node in status.nodes:
        lines.append(_node_line(node, now))
    for topic in status.topics:
        lines += ["", *_topic_lines(topic, now, status.alive)]
    return lines


def _node_line(node: NodeState, now: datetime) -> str:
    """One Scrapyd node: reachable, its jobs, its last error (checked when)."""
    checked = _ago(parse_iso(node.checked_at), now)
    if node.reachable:
        return (
            f"  scrapyd node {node.url}: reachable, {node.running} running,"
            f" {node.pending} pending (checked {checked})"
        )
    error = (node.last_error or "no answer").removeprefix(f"{node.url}: ")
    return f"  scrapyd node {node.url}: NOT USABLE: {error} (checked {checked})"


def _daemon_line(status: Status, now: datetime) -> str:
    daemon = status.daemon
    if daemon is None:
        return "daemon: never ran on this archive"
    where = f"pid {daemon.pid} on {daemon.hostname}"
    if status.alive:
        return (
            f"daemon: running ({where}, up {_ago(daemon.started_at, now, '')},"
            f" last beat {_ago(daemon.last_beat_at, now)})"
        )
    if daemon.stopped_at is not None:
        return f"daemon: stopped {_ago(daemon.stopped_at, now)} ({where})"
    return f"daemon: NOT RUNNING; last heartbeat {_ago(daemon.last_beat_at, now)} ({where})"


def _topic_lines(topic: TopicStatus, now: datetime, alive: bool) -> list[str]:
    lines = [f"{topic.name}  {topic.url}"]
    if topic.schedule is None:
        lines.append("  schedule: not scheduled by the daemon")
    else:
        if topic.next_run_at is not None:
            when = _until(topic.next_run_at, now)
        else:
            when = "not known" if alive else "none (the daemon is not running)"
        lines.append(f"  schedule: {topic.schedule}; next run {when}")
        if topic.waiting_since is not None:
            lines.append(
                f"  LATE: due {_ago(topic.waiting_since, now)}, waiting for a free crawl slot"
                " (the daemon is over capacity)"
            )
    run = topic.last_run
    if topic.running_run is not None:
        now_run = topic.running_run
        since = parse_iso(now_run["started_at"])
        lines.append(
            f"  crawling now: run {now_run['id']} (pid {now_run['pid']}),"
            f" running for {_ago(since, now, '')}"
        )
    if topic.stuck:
        lines.append(f"  STUCK: {topic.stuck}")
    if run is None:
        lines.append("  last run: none yet")
    else:
        seconds = run["duration"]
        duration = "" if seconds is None else f" in {span(seconds) if seconds else '<1s'}"
        lines.append(
            f"  last run: {run['status']} (run {run['id']}, {run['trigger']})"
            f" {run['started_at']}{duration}: {run_counts(run)}"
        )
        if run["error"]:
            lines.append(f"  error: {run['reason']}: {run['error']}")
    lines.append(f"  consecutive failures: {topic.consecutive_failures}{_alert_note(topic)}")
    return lines


def _alert_note(topic: TopicStatus) -> str:
    """`` (alert sent)`` only when every hook took the alert; else what became of it."""
    alert = topic.alert
    if alert is None:
        return " (alerting; no hook configured)" if topic.alerting else ""
    if alert["state"] == "sent" and not topic.alerting:
        return ""
    kind = "" if alert["kind"] == "failing" else f"{alert['kind']} "
    error = f": {alert['error']}" if alert["error"] else ""
    if alert["state"] == "sent":
        return f" ({kind}alert sent)"
    if alert["state"] == "failed":
        return f" ({kind}alert NOT delivered after {alert['attempts']} attempts{error})"
    return f" ({kind}alert {alert['state']}{error})"


def _ago(moment: datetime, now: datetime, suffix: str = " ago") -> str:
    return f"{span((now - moment).total_seconds())}{suffix}"


def _until(moment: datetime, now: datetime) -> str:
    seconds = (moment - now).total_seconds()
    return "now (due)" if seconds <= 0 else f"in {span(seconds)} ({moment:%Y-%m-%d %H:%M:%S} UTC)"
