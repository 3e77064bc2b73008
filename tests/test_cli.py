"""The topicwatch command: help, version, and one-line usage errors with exit code 2."""

from __future__ import annotations

import click
from click.testing import CliRunner

from topicwatch import __version__
from topicwatch.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"topicwatch, version {__version__}"


def test_every_command_has_help_with_an_example():
    context = click.Context(cli)
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        assert command is not None, name
        result = invoke(name, "--help")
        assert result.exit_code == 0, name
        assert command.help and "Example" in command.help, name


def test_bad_url_is_a_usage_error(tmp_path):
    result = invoke("crawl", "--url", "ftp://example.jp/x", "--db", str(tmp_path / "a.db"))
    assert result.exit_code == 2
    assert "not an http(s) URL" in result.output
    assert not (tmp_path / "a.db").exists()


def test_unknown_option_is_a_usage_error():
    result = invoke("crawl", "--bogus")
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_missing_archive_directory_is_a_usage_error(tmp_path):
    result = invoke("crawl", "--url", "http://127.0.0.1:9/x/", "--db", str(tmp_path / "no/a.db"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_bad_selectors_json_is_a_usage_error(tmp_path):
    result = invoke("crawl", "--selectors", "{nope", "--db", str(tmp_path / "a.db"))
    assert result.exit_code == 2
    assert "--selectors" in result.output


def test_page_counts_above_the_hard_cap_need_the_cap_raised(site, tmp_path):
    db = tmp_path / "a.db"
    refused = invoke("crawl", "--url", site.topic_url(), "--db", str(db), "--pages", "60")
    assert refused.exit_code == 2
    assert "60 is not in the range 1<=x<=50" in refused.output
    assert not db.exists()
    still = ("-s", "TOPICWATCH_MAX_PAGES_HARD=55")
    over = invoke("crawl", "--url", site.topic_url(), "--db", str(db), "--pages", "60", *still)
    assert over.exit_code == 2
    assert "60 is not in the range 1<=x<=55" in over.output
    assert not db.exists()
