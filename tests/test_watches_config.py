"""``[[watch]]`` in the config: checked completely at load, a problem is one line and
exit status 2 (for ``topicwatch watches`` and the daemon alike); secrets never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from topicwatch.cli import cli
from topicwatch.daemon.config import ConfigError, parse_config

TOPIC = {"name": "nato", "url": "https://novaist.jp/articles/tag/nato/"}


def parse(*watches: dict, tmp: Path) -> object:
    return parse_config({"topic": [TOPIC], "watch": list(watches)}, base=tmp)


def test_a_full_watch_is_read_with_its_defaults(tmp_path):
    config = parse(
        {"name": "ops", "notify": "json://127.0.0.1:9/x"},
        {
            "name": "arctic", "topics": ["nato"], "kinds": ["edited", "new"], "query": "北極",
            "digest": "1d", "notify": ["ntfy://topicwatch", {"webhook": "https://h.example/x"},
                                       {"command": ["notify-send", "tw"]}],
        },
        tmp=tmp_path,
    )  # fmt: skip
    ops, arctic = config.watches
    assert (ops.kinds, ops.topics, ops.query, ops.digest) == (
        ("new", "edited", "vanished", "reappeared"), None, None, 0.0,
    )  # fmt: skip
    assert (arctic.kinds, arctic.topics, arctic.digest) == (("new", "edited"), ("nato",), 86400)
    assert [d.kind for d in arctic.notify] == ["apprise", "webhook", "command"]
    assert [d.label for d in arctic.notify] == [
        "apprise ntfy://topicwatch/", "webhook https://h.example/…", "command notify-send",
    ]  # fmt: skip
    assert len({d.key for d in arctic.notify}) == 3
    assert all(":" in d.key and "h.example" not in d.key for d in arctic.notify)


@pytest.mark.parametrize(
    ("watch", "message"),
    [
        ({"kinds": ["edit"]}, "watch[1].kinds: unknown kind 'edit' (expected some of"),
        ({"kinds": []}, "watch[1].kinds: expected a list of change kinds"),
        ({"query": "  \u3000 "}, "watch[1].query: the query is empty"),
        ({"notify": "jsn://127.0.0.1/x"}, "watch[1].notify[1]: not a URL Apprise can notify"),
        ({"notify": "mailto://"}, "watch[1].notify[1]: not a URL Apprise can notify"),
        ({"notify": []}, "watch[1].notify: expected one or more destinations"),
        ({"notify": {"webhook": "ftp://x/"}}, "watch[1].notify[1].webhook: not an http(s) URL"),
        ({"notify": {"command": []}}, "watch[1].notify[1].command: expected a list of strings"),
        ({"digest": "soon"}, "watch[1].digest: bad duration 'soon'"),
        ({"digest": "30s"}, "watch[1].digest: a digest period is at least 1m"),
        ({"topics": ["natto"]}, "watch[1].topics: no [[topic]] is named 'natto'"),
        ({"name": "a/b"}, "watch[1].name: expected 1 to 100 printable characters"),
        ({"colour": "red"}, "unknown key watch[1].colour"),
    ],
)
def test_a_bad_watch_is_refused_with_one_line(tmp_path, watch, message):
    entry = {"name": "ops", "notify": "json://127.0.0.1:9/x", **watch}
    with pytest.raises(ConfigError) as error:
        parse(entry, tmp=tmp_path)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_two_watches_of_one_name_are_refused(tmp_path):
    entry = {"name": "ops", "notify": "json://127.0.0.1:9/x"}
    with pytest.raises(ConfigError, match=r"watch\[2\]\.name: duplicate watch name 'ops'"):
        parse(entry, entry, tmp=tmp_path)


SECRET_CONFIG = """\
db = "{db}"
[[topic]]
url = "https://novaist.jp/articles/tag/nato/"
[[watch]]
name = "ops"
notify = ["slak://T000/B000/s3cr3t-token"]
"""


@pytest.mark.parametrize("command", [["watches"], ["watches", "send"], ["daemon"]])
def test_commands_refuse_a_bad_watch_in_one_line_with_exit_2(tmp_path, command):
    config = tmp_path / "tw.toml"
    config.write_text(SECRET_CONFIG.format(db=tmp_path / "a.db"), encoding="utf-8")
    result = CliRunner().invoke(cli, [*command, "--config", str(config)])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {config}: watch[1].notify[1]: not a URL Apprise can notify"
        " (see Apprise's URL list)\n"
    )
    assert "s3cr3t" not in result.output
    assert not (tmp_path / "a.db").exists()
