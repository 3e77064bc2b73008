"""The ``[scrapyd]`` section and ``executor``: nothing changes without them, and every
problem is one line naming the key (the password never in it)."""

from __future__ import annotations

import pytest
from config_helpers import one_line_error, parse

from topicwatch import __version__
from topicwatch.daemon.cluster_config import NodeConfig

URL = "https://novaist.jp/articles/tag/nato/"


def test_without_a_scrapyd_section_nothing_changes(tmp_path):
    config = parse(f'[[topic]]\nurl = "{URL}"\n', tmp_path)
    assert config.scrapyd is None
    assert config.topics[0].executor == "local"


def test_the_section_with_per_node_limits_and_executor_from_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("TW_PASS", "s3cret")
    config = parse(
        'per_site = 2\n[defaults]\nexecutor = "scrapyd"\n'
        f'[[topic]]\nurl = "{URL}"\n'
        f'[[topic]]\nurl = "{URL}x/"\nexecutor = "local"\n'
        '[scrapyd]\nnodes = ["http://10.0.0.5:6800/",'
        ' {url = "http://10.0.0.6:6800", max_jobs = 4}]\n'
        'username = "tw"\npassword_env = "TW_PASS"\nbatch = 3\n',
        tmp_path,
    )
    assert [t.executor for t in config.topics] == ["scrapyd", "local"]
    scrapyd = config.scrapyd
    assert scrapyd is not None
    assert scrapyd.nodes == (
        NodeConfig("http://10.0.0.5:6800", 2),
        NodeConfig("http://10.0.0.6:6800", 4),
    )
    assert (scrapyd.project, scrapyd.username, scrapyd.password) == ("topicwatch", "tw", "s3cret")
    assert (scrapyd.per_site, scrapyd.batch, scrapyd.version) == (2, 3, __version__)
    assert "s3cret" not in repr(config)


def test_the_password_may_come_from_a_file(tmp_path):
    (tmp_path / "secret").write_text("from-file\n", encoding="utf-8")
    config = parse(
        f'[[topic]]\nurl = "{URL}"\n[scrapyd]\nnodes = ["http://n:6800"]\n'
        'username = "tw"\npassword_file = "secret"\n',
        tmp_path,
    )
    assert config.scrapyd is not None and config.scrapyd.password == "from-file"


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ("", 'topic[1].executor: "scrapyd" needs a [scrapyd] section'),
        ("[scrapyd]\nnodes = []\n", "scrapyd.nodes: expected a list of node URLs"),
        ('[scrapyd]\nnodes = ["ftp://n"]\n', "scrapyd.nodes[1]: not an http(s) URL"),
        ('[scrapyd]\nnodes = ["http://n:abc"]\n', "scrapyd.nodes[1]: not an http(s) URL"),
        ('[scrapyd]\nnodes = ["http://n:99999"]\n', "scrapyd.nodes[1]: not an http(s) URL"),
        ('[scrapyd]\nnodes = ["http://n:6800#x"]\n', "scrapyd.nodes[1]: not an http(s) URL"),
        ('[scrapyd]\nnodes = ["http://tw:s3cret@n:6800"]\n', "credentials go in username"),
        ('[scrapyd]\nnodes = ["http://n:6800", "http://n:6800/"]\n', "duplicate node"),
        ('[scrapyd]\nnodes = ["http://n", "HTTP://N:80"]\n', "duplicate node"),
        ('[scrapyd]\nnodes = ["http://n:6800"]\nproject = "a/../b"\n', "scrapyd.project: expected"),
        ('[scrapyd]\nnodes = ["http://n:6800"]\nusername = "a:b"\n', "cannot hold ':'"),
        ('[scrapyd]\nnodes = ["http://n:6800"]\nmax_jobs = 0\n', "scrapyd.max_jobs: expected"),
        (
            '[scrapyd]\nnodes = ["http://n:6800"]\nusername = "tw"\n',
            "password_env or password_file",
        ),
        (
            '[scrapyd]\nnodes = ["http://n:6800"]\nusername = "tw"\npassword_env = "TW_NONE"\n',
            "scrapyd.password_env: the environment has no TW_NONE",
        ),
        ('[scrapyd]\nnodes = ["http://n:6800"]\nmax_memory = 200000\n', "scrapyd.max_memory"),
        ('[scrapyd]\nnodes = ["http://n:6800"]\nbatch = 0\n', "scrapyd.batch: expected"),
        ('[scrapyd]\nnodes = ["http://n:6800"]\nnode = 1\n', "unknown key scrapyd.node"),
        (
            '[scrapyd]\nnodes = ["http://n:6800"]\nper_site = 2\n',
            "scrapyd.per_site: set per_site at the top level",
        ),
    ],
)
def test_problems_are_one_line_naming_the_key(tmp_path, section, error):
    text = f'[[topic]]\nurl = "{URL}"\nexecutor = "scrapyd"\n{section}'
    message = one_line_error(text, tmp_path)
    assert error in message
    assert "s3cret" not in message


@pytest.mark.parametrize("source", ["password_env", "password_file"])
def test_an_empty_password_is_refused(tmp_path, monkeypatch, source):
    monkeypatch.setenv("TW_EMPTY", "")
    (tmp_path / "secret").write_text("\n", encoding="utf-8")
    name = "TW_EMPTY" if source == "password_env" else "secret"
    section = f'[scrapyd]\nnodes = ["http://n:6800"]\nusername = "tw"\n{source} = "{name}"\n'
    message = one_line_error(f'[[topic]]\nurl = "{URL}"\nexecutor = "scrapyd"\n{section}', tmp_path)
    assert f"scrapyd.{source}: the password it gives is empty" in message


def test_an_unknown_executor_is_refused(tmp_path):
    message = one_line_error(f'[[topic]]\nurl = "{URL}"\nexecutor = "celery"\n', tmp_path)
    assert "topic[1].executor: expected one of ['local', 'scrapyd']" in message
