"""Values that look valid are refused at load: one line naming the key, exit 2.

Each was accepted before and then failed later — a traceback at the daemon's start, a
daemon that died on its first timer, a crawl that crashed on every changed page behind
304s, or a schedule that ran once and never again. Cron follows crontab(5).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

from topicwatch.archive.durations import MAX_DURATION, duration_seconds
from topicwatch.cli import cli
from topicwatch.daemon.config import RESERVED_NAMES, ConfigError, TopicConfig, load_config
from topicwatch.daemon.schedule import cron_trigger, first_run_time, interval_seconds

ROOT = Path(__file__).parents[1]
URL = "https://novaist.jp/articles/tag/nato/"
DURATION_KEYS = [
    ("", "shutdown_grace"),
    ("", "heartbeat"),
    ("", "backoff_max"),
    ("[defaults]\n", "every"),
    ("[defaults]\n", "jitter"),
    ("[defaults]\n", "timeout"),
    (f'[[topic]]\nurl = "{URL}"\n', "every"),
    (f'[[topic]]\nurl = "{URL}"\n', "timeout"),
]
LOOKS_VALID = ["nan", "inf", "-inf", "1e300", '"99999999999d"', '"367d"', "1" + "0" * 400]


def error_of(text: str, tmp_path: Path) -> str:
    path = tmp_path / "tw.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("value", LOOKS_VALID)
@pytest.mark.parametrize(("table", "key"), DURATION_KEYS)
def test_every_duration_key_refuses_values_that_only_look_like_durations(
    tmp_path, table, key, value
):
    message = error_of(f"{table}{key} = {value}\n", tmp_path)
    assert f"{key}: " in message and "out of range" in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[topic]]\nurl = "http://[::1"', "topic[1].url: not an http(s) URL"),
        ('[[topic]]\nurl = "http://example.jp:99999/tag/x/"', "topic[1].url: not an http(s)"),
        ('[alerts]\nwebhook = "http://[::1"', "alerts.webhook: not an http(s) URL"),
        ('[alerts]\nwebhook = "http://hooks.example:99999/x"', "alerts.webhook: not an http"),
        (
            f'[[topic]]\nname = "housekeeping"\nurl = "{URL}"',
            "topic[1].name: 'housekeeping' is the name of one of the daemon's own jobs",
        ),
        (
            '[[topic]]\nurl = "https://example.jp/tag/housekeeping/"',
            "topic[1].name: 'housekeeping'",
        ),
        (f'[[topic]]\nurl = "{URL}"\nselectors = {{ item = "div[" }}', "selectors.item: not a"),
        (f'[[topic]]\nurl = "{URL}"\nselectors = {{ headline = "h3::text" }}', "headline"),
        (f'[[topic]]\nurl = "{URL}"\nselectors = {{ link = "a >> b" }}', "selectors.link"),
        ('[defaults]\ncron = "0 0 30 2 *"', "defaults.cron: '0 0 30 2 *' never runs"),
        ('[defaults]\ncron = "0 0 31 4,6,9,11 *"', "never runs"),
        ('[defaults]\ncron = "*/61 * * * *"', "defaults.cron: bad minute field '*/61'"),
        ('[defaults]\ncron = "0 */25 * * *"', "bad hour field"),
        ('[defaults]\ncron = "0 0 1 */13 *"', "bad month field"),
        ('[defaults]\ncron = "@reboot"', "defaults.cron: unknown nickname '@reboot'"),
        ('[defaults]\ncron = "@fortnightly"', "unknown nickname"),
        ('[defaults]\ncron = "0 ٩ * * *"', "bad hour value"),
        (f'[[topic]]\nurl = "{URL}"\nevery = 0.001', "topic[1].every: must be at least 1s"),
        ('[defaults]\nevery = "0.5s"', "defaults.every: must be at least 1s"),
        ("heartbeat = 0.01", "heartbeat: must be at least 1s"),
        (f'[[topic]]\nurl = "{URL}"\nname = "a\\u0000b"', "topic[1].name: must not contain a NUL"),
        ('db = "a\\u0000.db"', "db: must not contain a NUL character"),
        ('[settings]\nUSER_AGENT = "x\\u0000y"', "settings.USER_AGENT: must not contain a NUL"),
        ('[alerts]\ncommand = ["notify", "\\u0000"]', "alerts.command[2]: must not contain"),
        ('[settings]\n"A\\u0000" = "1"', "settings: a key contains a NUL character"),
        (f'db = "{"x/" * 3000}a.db"', "db: archive path is too long: "),
        (f'db = "{"x" * 250}.db"', "db: archive file name is too long"),
        (
            f'[[topic]]\nurl = "{URL}"\nselectors = {{ item = "{":is(" * 3000}a{")" * 3000}" }}',
            "selectors.item: not a usable CSS selector: ':is(:is(",
        ),
        (
            f'[[topic]]\nurl = "{URL}"\nselectors = {{ item = "{":is(" * 17}a{")" * 17}" }}',
            "(nested too deeply: at most 16 levels)",
        ),
        ('[[topic]]\nurl = "http://example.jp:0/tag/x/"', "topic[1].url: not an http(s) URL"),
        ('timezone = "Asia"', "timezone: unknown time zone 'Asia'"),
        (f'timezone = "Asia/{"x" * 5000}"', "timezone: unknown time zone 'Asia/xxx"),
        (f'[[topic]]\nurl = "{URL}"\nallow_hosts = ["cdn.example.jp:0"]', "has a bad port"),
    ],
)
def test_values_that_look_valid_are_refused_naming_the_key(tmp_path, text, expected):
    message = error_of(text, tmp_path)
    assert expected in message and len(message) < 400, message


@pytest.mark.parametrize(
    "cron", ["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"]
)
def test_crontab_nicknames_are_accepted(tmp_path, cron):
    path = tmp_path / "tw.toml"
    path.write_text(f'[[topic]]\nurl = "{URL}"\ncron = "{cron}"\n', encoding="utf-8")
    (topic,) = load_config(path).topics
    assert topic.cron == cron and topic.schedule == f"cron {cron}"


NICKNAME_GAPS = {
    "@hourly": timedelta(hours=1),
    "@daily": timedelta(days=1),
    "@midnight": timedelta(days=1),
    "@weekly": timedelta(weeks=1),
}


@pytest.mark.parametrize(("cron", "gap"), NICKNAME_GAPS.items())
def test_nicknames_fire_as_crontab_says(cron, gap):
    start = datetime(2026, 2, 11, 10, 30, tzinfo=UTC)  # a Wednesday
    times = fire_times(cron, start, 3)
    assert all(later - earlier == gap for earlier, later in pairwise(times))
    assert times[0].minute == 0 and (cron == "@hourly" or times[0].hour == 0)
    if cron == "@weekly":
        assert times[0].weekday() == 6  # Sunday


def fire_times(cron: str, start: datetime, count: int) -> list[datetime]:
    trigger = cron_trigger(cron, UTC)
    times, previous, now = [], None, start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        times.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)
    return times


def test_restricted_day_of_month_and_weekday_match_either_or():
    """crontab(5): ``0 9 13 * 5`` is every 13th *and* every Friday (was: Friday the 13ths)."""
    start = datetime(2026, 2, 1, tzinfo=UTC)
    days = {fire.date() for fire in fire_times("0 9 13 * 5", start, 10)}
    later = [start.date() + timedelta(days=d) for d in range(100)]
    fridays = {day for day in later if day.weekday() == 4}
    thirteenths = {datetime(2026, m, 13, tzinfo=UTC).date() for m in (2, 3, 4)}
    expected = sorted(fridays | thirteenths)[:10]
    assert sorted(days) == expected
    assert datetime(2026, 2, 13).date() in days  # a Friday the 13th, once


def test_a_star_step_day_field_is_unrestricted_so_both_must_match():
    """crontab(5): a field starting with ``*`` is unrestricted: ``*/2`` days AND Mondays."""
    start = datetime(2026, 2, 1, tzinfo=UTC)
    for fire in fire_times("0 9 */2 * 1", start, 6):
        assert fire.weekday() == 0 and fire.day % 2 == 1


def test_february_29_is_a_day_that_comes():
    fire = cron_trigger("0 0 29 2 *", UTC).get_next_fire_time(
        None, datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert fire == datetime(2028, 2, 29, tzinfo=UTC)


def test_an_either_or_schedule_is_scheduled_as_such():
    """The daemon's arithmetic sees the 13th (a Monday) as a run day, then Friday."""
    topic = TopicConfig(name="t", url=URL, every=None, cron="0 9 13 * 5")
    now = datetime(2026, 4, 11, 12, tzinfo=UTC)  # Saturday
    assert interval_seconds(topic, UTC, now) == 4 * 86400  # Mon 13th, then Fri 17th
    last_ok = datetime(2026, 4, 10, 9, tzinfo=UTC)  # Friday's run
    assert first_run_time(topic, UTC, last_ok, now) == datetime(2026, 4, 13, 9, tzinfo=UTC)


def test_the_one_duration_check():
    assert duration_seconds("1h30m") == 5400 and duration_seconds(0) == 0
    assert duration_seconds(MAX_DURATION) == MAX_DURATION
    for bad in (float("nan"), float("inf"), 1e300, "99999999999d", 10**400, -1, True, None):
        with pytest.raises(ValueError):
            duration_seconds(bad)


def test_reserved_names_are_the_daemons_own_job_ids():
    """The daemon's own job ids (read from its source, so the config check needs no
    APScheduler)."""
    tree = ast.parse((ROOT / "topicwatch" / "daemon" / "service.py").read_text(encoding="utf-8"))
    ids = {
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and any(getattr(t, "id", "") == "HOUSEKEEPING" for t in node.targets)
    }
    assert ids and ids <= RESERVED_NAMES


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--wait", "nan"], "out of range"),
        (["--wait", "inf"], "out of range"),
        (["--wait", "1e300"], "out of range"),
        (["-s", "DOWNLOAD_TIMEOUT=inf"], "expected a finite number"),
        (["-s", "DOWNLOAD_DELAY=nan"], "expected a finite number"),
        (["-s", "DOWNLOAD_TIMEOUT=99999999999"], "out of range"),
        (["-s", "RETRY_AFTER_MAX=1e300"], "out of range"),
        (["--selectors", '{"item": "div["}'], "item: not a usable CSS selector"),
        (["-s", "CONCURRENT_REQUESTS=1.5"], "expected a whole number from 1 to 256"),
        (["-s", "RETRY_TIMES=-1"], "RETRY_TIMES='-1': expected a whole number from 0"),
        (["-s", "DOWNLOAD_MAXSIZE=0"], "expected a whole number from 1"),
        (["-s", "TOPICWATCH_MAX_PAGES_HARD=1e3"], "TOPICWATCH_MAX_PAGES_HARD"),
        (["-s", "URLLENGTH_LIMIT=" + "9" * 5000], "URLLENGTH_LIMIT"),
        (["-s", "HTTP2_MAX_FRAME_SIZE=2.0"], "expected a whole number, not"),
        (["--selectors", json.dumps({"item": ":has(" * 4000 + "a" + ")" * 4000})], "1,000"),
        (["--url", "http://127.0.0.1:0/articles/tag/nato/"], "not an http(s) URL"),
        (["--selectors", '{"headline": "h3::text"}'], "not a usable CSS selector"),
        (["--url", "http://[::1"], "not an http(s) URL"),
    ],
)
def test_crawl_options_that_look_valid_are_usage_errors(tmp_path, args, expected):
    nowhere = "http://127.0.0.1:9/articles/tag/nato/"
    argv = ["crawl", "--url", nowhere, "--db", str(tmp_path / "a.db")]
    result = CliRunner().invoke(cli, [*argv, *args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and expected in errors[0], result.output
    assert list(tmp_path.iterdir()) == []


def test_daemon_settings_are_checked_as_crawl_checks_them(tmp_path):
    config = tmp_path / "tw.toml"
    config.write_text('db = "a.db"\n[settings]\nDOWNLOAD_TIMEOUT = "inf"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["daemon", "--config", str(config)])
    assert result.exit_code == 2
    assert "settings: -s DOWNLOAD_TIMEOUT='inf': expected a finite number" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tw.toml"]


COUNTS = ["1.5", '"1.5"', "-1", "0", "99999999999999999999", '"lots"', "true", "2.0"]


@pytest.mark.parametrize("value", COUNTS)
@pytest.mark.parametrize(
    "name", ["CONCURRENT_REQUESTS", "RETRY_TIMES", "TOPICWATCH_MAX_PAGES_HARD", "DOWNLOAD_MAXSIZE"]
)
def test_count_settings_are_refused_at_load_naming_the_key(tmp_path, name, value):
    """A count Scrapy reads with getint crashed every crawl child (``1.5``) or stalled it
    (``0``, ``-1``); the config refuses it at load, as it refuses a bad duration."""
    if value == "0" and name == "RETRY_TIMES":
        value = "101"
    message = error_of(f"[settings]\n{name} = {value}\n", tmp_path)
    assert f"settings.{name}: expected a whole number from" in message, message


def test_count_settings_are_checked_without_scrapy(tmp_path):
    """The daemon never imports Scrapy: the check at load is the standard library's."""
    config = tmp_path / "tw.toml"
    config.write_text('db = "a.db"\n[settings]\nCONCURRENT_REQUESTS = "2.5"\n', encoding="utf-8")
    code = (
        "import sys\nfrom topicwatch.daemon.config import ConfigError, load_config\n"
        f"try:\n    load_config({str(config)!r})\nexcept ConfigError as e:\n    print(e)\n"
        "assert 'scrapy' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "settings.CONCURRENT_REQUESTS: expected a whole number from 1 to 256" in done.stdout


def test_good_counts_pass_as_they_are(tmp_path):
    config = tmp_path / "tw.toml"
    config.write_text(
        'db = "a.db"\n[settings]\nCONCURRENT_REQUESTS = 8\nRETRY_TIMES = "0"\n', encoding="utf-8"
    )
    assert load_config(config).settings == {"CONCURRENT_REQUESTS": "8", "RETRY_TIMES": "0"}


@pytest.mark.parametrize("kind", ["zero", "large"])
def test_a_config_that_is_no_file_or_too_large_is_refused_unread(tmp_path, kind):
    path = Path("/dev/zero")
    if kind == "large":
        path = tmp_path / "tw.toml"
        path.write_text("#" + "x" * (2 << 20) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert ("not a regular file" if kind == "zero" else "larger than 1024 KiB") in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 100_000 + "]" * 100_000,
        "x = " + "{a=" * 5000 + "1" + "}" * 5000,
        "a" + ".a" * 100_000 + " = 1",
        "[" + "a." * 50_000 + "a]",
    ],
    ids=["arrays", "inline-tables", "dotted-key", "table-header"],
)
def test_toml_nested_without_end_is_refused_at_once(tmp_path, text):
    """Nested arrays and inline tables were a RecursionError traceback; a dotted key
    100,000 deep kept tomllib busy for minutes (its time grows with the square)."""
    started = time.monotonic()
    message = error_of(text + "\n", tmp_path)
    assert "not valid TOML" in message and "nested" in message, message
    assert time.monotonic() - started < 10
