"""The daemon's config: defaults, every key, and one clear error naming the key (exit 2)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from config_helpers import parse

from topicwatch import DEFAULT_TOPIC_URL
from topicwatch.archive.durations import format_duration, parse_duration
from topicwatch.cli import cli
from topicwatch.daemon.config import ConfigError, load_config, parse_config
from topicwatch.daemon.cron import cron_values
from topicwatch.daemon.schedule import cron_trigger

URL = "https://novaist.jp/articles/tag/nato/"


def error_of(text: str, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path)
    return str(caught.value)


def test_no_config_file_means_the_default_topic_every_30_minutes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.db == tmp_path / "topicwatch.db"
    (topic,) = config.topics
    assert (topic.name, topic.url, topic.every, topic.cron) == (
        "nato",
        DEFAULT_TOPIC_URL,
        1800,
        None,
    )
    assert (config.concurrency, config.shutdown_grace, config.alerts.after) == (2, 30, 3)
    assert config.crawl_workers == 2  # warm workers unless asked for a process per crawl


def test_the_default_config_file_is_read_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "topicwatch.toml").write_text('db = "x.db"\n', encoding="utf-8")
    assert load_config(None).db == tmp_path / "x.db"


def test_full_config(tmp_path):
    (tmp_path / "archive").mkdir()
    config = parse(
        f"""
        db = "archive/tw.db"
        timezone = "Asia/Tokyo"
        concurrency = 3
        shutdown_grace = "45s"
        heartbeat = "10s"
        backoff_max = "2h"
        [defaults]
        every = "15m"
        jitter = "30s"
        max_pages = 3
        timeout = "5m"
        [alerts]
        after = 5
        webhook = "https://hooks.example.com/T1/B2/secret"
        command = ["notify-send", "topicwatch"]
        [settings]
        DOWNLOAD_DELAY = 2
        ROBOTSTXT_OBEY = true
        [[topic]]
        name = "nato"
        url = "{URL}"
        [[topic]]
        url = "https://novaist.jp/articles/tag/%e8%8b%b1%e5%9b%bd"
        cron = "0 9 * * mon-fri"
        max_pages = 10
        selectors = {{ item = "article.card", headline = "h2" }}
        """,
        tmp_path,
    )
    assert config.db == tmp_path / "archive" / "tw.db"
    assert (config.timezone, config.concurrency, config.shutdown_grace) == ("Asia/Tokyo", 3, 45)
    assert (config.heartbeat, config.backoff_max) == (10, 7200)
    assert config.alerts.hooks == ("webhook", "command")
    assert config.alerts.after == 5
    assert config.settings == {"DOWNLOAD_DELAY": "2", "ROBOTSTXT_OBEY": "True"}
    nato, uk = config.topics
    assert (nato.every, nato.jitter, nato.max_pages, nato.timeout) == (900, 30, 3, 300)
    assert nato.schedule == "every 15m"
    assert uk.name == "英国"
    assert uk.url == "https://novaist.jp/articles/tag/%E8%8B%B1%E5%9B%BD/"
    assert (uk.every, uk.cron, uk.max_pages) == (None, "0 9 * * mon-fri", 10)
    assert uk.selectors == {"item": "article.card", "headline": "h2"}


def test_db_is_relative_to_the_config_file(tmp_path):
    config = parse_config({"db": "a.db"}, base=tmp_path)
    assert config.db == tmp_path / "a.db"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('evry = "1m"', "unknown key evry"),
        ('[defaults]\nevry = "1m"', "unknown key defaults.evry"),
        ('[defaults]\nevery = "5 minutes"', "defaults.every: bad duration"),
        ('[defaults]\nevery = "0s"', "defaults.every: must be positive"),
        ('[defaults]\nevery = "1m"\ncron = "* * * * *"', "defaults.every: give either"),
        ('[defaults]\ncron = "*/5 * * *"', "defaults.cron: expected 5 fields"),
        ('[defaults]\ncron = "61 * * * *"', "defaults.cron: bad minute field"),
        ('[defaults]\ncron = "0 9 * * funday"', "defaults.cron: bad day of week value"),
        ("[defaults]\nmax_pages = 0", "defaults.max_pages: expected a whole number"),
        ('[defaults]\njitter = "-1s"', "defaults.jitter"),
        ("concurrency = 0", "concurrency: expected a whole number"),
        ("crawl_workers = 9", "crawl_workers: expected a whole number from 0 to 8, not 9"),
        ("crawl_workers = -1", "crawl_workers: expected a whole number"),
        ('crawl_workers = "2"', "crawl_workers: expected a whole number"),
        ('timezone = "Mars/Olympus"', "timezone: unknown time zone"),
        ('shutdown_grace = "soon"', "shutdown_grace: bad duration"),
        ('db = "missing/dir/a.db"', "db: directory does not exist"),
        ('[[topic]]\nname = "x"', "topic[1].url: missing"),
        ('[[topic]]\nurl = "ftp://example.jp/x"', "topic[1].url: not an http(s) URL"),
        (f'[[topic]]\nurl = "{URL}"\ncolour = "red"', "unknown key topic[1].colour"),
        (f'[[topic]]\nurl = "{URL}"\nevery = "1x"', "topic[1].every: bad duration"),
        (f'[[topic]]\nurl = "{URL}"\nselectors = {{ itme = "a" }}', "topic[1].selectors.itme"),
        (
            f'[[topic]]\nname = "a"\nurl = "{URL}"\n[[topic]]\nname = "a"\nurl = "{URL}x/"',
            "topic[2].name: duplicate topic name 'a'",
        ),
        (
            f'[[topic]]\nname = "a"\nurl = "{URL}"\n[[topic]]\nname = "b"\nurl = "{URL[:-1]}"',
            "topic[2].url: duplicate topic URL",
        ),
        ('[alerts]\nwebhook = "hooks.example.com/x?token=s3cret"', "alerts.webhook: not an http"),
        ("[alerts]\ncommand = []", "alerts.command"),
        ("[settings]\ndownload_delay = 1", "settings.download_delay"),
        ("db = [", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, key):
    message = error_of(text, tmp_path)
    assert key in message
    assert message.startswith(str(tmp_path / "topicwatch.toml"))
    assert "s3cret" not in message


def test_daemon_command_with_a_bad_config_exits_2_before_starting(tmp_path):
    config = tmp_path / "tw.toml"
    config.write_text('db = "a.db"\n[defaults]\ncron = "*/5 * * *"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["daemon", "--config", str(config)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ")
    assert "defaults.cron: expected 5 fields" in result.output
    assert not (tmp_path / "a.db").exists()


def test_daemon_command_with_a_missing_config_file_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["daemon", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "cannot read config" in result.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("1h30m", 5400),
        ("2d", 172800),
        ("0.5s", 0.5),
        ("1H", 3600),
        ("2w", 1_209_600),
        ("1w2d", 777_600),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_durations_read_back():
    assert [format_duration(s) for s in (1, 90, 1800, 3600, 86400, 0.5, 604800)] == [
        "1s",
        "90s",
        "30m",
        "1h",
        "1d",
        "0.5s",
        "1w",
    ]


def test_cron_fields():
    assert cron_values("*/15", "minute") == {0, 15, 30, 45}
    assert cron_values("1-5", "day of week") == {1, 2, 3, 4, 5}
    assert cron_values("mon-fri", "day of week") == {1, 2, 3, 4, 5}
    assert cron_values("jan,jul", "month") == {1, 7}
    assert cron_values("5/20", "minute") == {5, 25, 45}


def test_cron_weekdays_mean_what_crontab_means():
    """APScheduler 3 counts weekdays from Monday; topicwatch's cron counts from Sunday."""
    trigger = cron_trigger("0 9 * * 0", UTC)
    saturday = datetime(2026, 2, 14, 12, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, saturday) == datetime(2026, 2, 15, 9, tzinfo=UTC)
    weekdays = cron_trigger("30 8 * * 1-5", UTC)
    assert weekdays.get_next_fire_time(None, saturday) == datetime(2026, 2, 16, 8, 30, tzinfo=UTC)
    assert cron_trigger("0 0 1 jan 7", UTC).get_next_fire_time(None, saturday) is not None


def test_the_example_config_is_valid(tmp_path):
    example = Path(__file__).parents[1] / "topicwatch.example.toml"
    config = parse_config(tomllib.loads(example.read_text(encoding="utf-8")), base=tmp_path)
    assert [topic.name for topic in config.topics] == ["nato"]
    assert config.topics[0].every == 900


def test_daemon_command_runs_the_daemon_in_its_own_process_after_checking_the_config(
    tmp_path, monkeypatch
):
    """One command line: ``topicwatch daemon`` loads and checks the config, then runs the
    daemon in this process (no exec of a second program parsing the options again)."""
    calls = []
    monkeypatch.setattr(
        "topicwatch.daemon.service.run",
        lambda config, *, log_json=False: calls.append((config.path, log_json)) or 0,
    )
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["daemon"]).exit_code == 0
    config = tmp_path / "tw.toml"
    config.write_text("concurrency = 1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["daemon", "--config", "tw.toml", "--log-json"])
    assert result.exit_code == 0
    assert calls == [(None, False), (config.resolve(), True)]
