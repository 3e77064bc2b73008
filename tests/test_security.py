"""The fault matrix, security: what a hostile page, an analyst or a log line cannot do.

Off-site and non-http links are neither fetched nor stored; stored text is plain; values
never become SQL text; analysts' commands cannot write; hook secrets are never printed.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from conftest import child_env, rows, scalar
from daemon_helpers import Daemon, WebhookReceiver, wait_until, write_config
from fault_checks import (  # noqa: F401 (fixtures)
    TOPIC_PATH,
    Case,
    assert_nothing_lost,
    assert_outcome,
    baseline_fixture,
    case_fixture,
    fault_site_fixture,
)
from fault_matrix import row
from fault_matrix import rows as matrix_rows
from fault_site import Witness
from fixture_site import load_seed_articles

from topicwatch.archive import open_archive
from topicwatch.archive.changes import Sighting
from topicwatch.archive.crawl_memory import topic_memory
from topicwatch.archive.enrichment import Article, needing_articles
from topicwatch.archive.runs import begin_run
from topicwatch.archive.store import PageResult, RunReport, commit_run
from topicwatch.cli import cli
from topicwatch.daemon.hooks import HookError, post_webhook

ROOT = Path(__file__).parents[1]
SEED = load_seed_articles()
P = TOPIC_PATH
INJECTION = 'O\'Hara "x"; DROP TABLE items; --'
COVERED: set[str] = set()


def covers(fault_id: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    row(fault_id)
    COVERED.add(fault_id)
    return lambda test: test


# Rows whose tests need fixtures of their own, and live in their own modules.
# test_terminal_text, test_serve, test_daemon_log
_ELSEWHERE = ("terminal-escapes", "serve-function-bound", "log-injection", "serve-query-size")
for _fault_id in (*_ELSEWHERE, "snapshot-to-terminal"):
    covers(_fault_id)


def test_every_row_is_covered():
    assert {fault.id for fault in matrix_rows("security")} == COVERED


def with_cards(case: Case, *cards: str, head: str = "") -> None:
    """Serve the seed listing with extra cards appended to the list (and ``head`` markup)."""
    page = case.site.page_bytes(P).decode().replace("</head>", head + "</head>", 1)
    end = page.index("</div>\n</section>", page.index('class="p-topic-list__items"'))
    case.site.serve_raw(P, (page[:end] + "".join(cards) + page[end:]).encode())


def card(href: str, headline: str, summary: str, *, raw: bool = False) -> str:
    """A card in the site's markup; ``raw`` leaves headline and summary markup unescaped."""
    from html import escape

    text = (lambda value: value) if raw else escape
    return (
        f'<article class="p-card"><a class="p-card__link" href="{escape(href)}">'
        f'<div class="p-card__body"><h3 class="p-card__title">{text(headline)}</h3>'
        f'<p class="p-card__excerpt">{text(summary)}</p>'
        '<time class="p-card__date" datetime="2026-02-20T09:00:00+09:00">2026.02.20</time>'
        "</div></a></article>"
    )


SUMMARY = "NATOの国防相会合は防空網の強化で一致し、共同調達の拡大と前方展開の継続を確認した。"


# --------------------------------------------------------------------------- pages


@covers("offsite-links")
def test_links_to_other_sites_are_never_followed_or_stored(case):
    before = case.state()
    with Witness() as elsewhere:
        with_cards(
            case,
            card(f"{elsewhere.base_url}/articles/evil-one/", "他サイトの記事その一", SUMMARY),
            card("//evil.example/articles/evil-two/", "他サイトの記事その二", SUMMARY),
            card("https://evil.example/articles/evil-three/", "他サイトの記事その三", SUMMARY),
            head=f'<link rel="next" href="{elsewhere.base_url}/articles/tag/nato/page/2/">',
        )
        crawl = case.crawl("--pages", "2")
        assert not elsewhere.was_contacted()
    assert_outcome(row("offsite-links"), crawl)
    assert all(
        url.startswith(case.site.base_url) for (url,) in rows(case.db, "SELECT url FROM items")
    )
    assert {r.path.split("/")[1] for r in case.site.requests} <= {"robots.txt", "articles"}
    assert_nothing_lost(before, case.state())


@covers("non-http-links")
def test_only_http_and_https_links_are_followed_or_stored(case):
    before = case.state()
    hrefs = [
        "javascript:alert(document.cookie)",
        "mailto:desk@example.jp?subject=/articles/x/",
        "ftp://127.0.0.1/articles/ftp-article/",
        "file:///etc/passwd",
        "data:text/html,<script>alert(1)</script>",
    ]
    with_cards(case, *(card(href, f"不正なリンク{n}", SUMMARY) for n, href in enumerate(hrefs)))
    crawl = case.crawl()
    assert_outcome(row("non-http-links"), crawl)
    schemes = {url.split(":", 1)[0] for (url,) in rows(case.db, "SELECT url FROM items")}
    assert schemes == {"http"}
    assert_nothing_lost(before, case.state())


@covers("markup-in-text")
def test_stored_text_is_plain(case):
    before = case.state()
    headline = "NATO<i>緊急</i>会合で<b>防空</b>強化<script>steal('headline')</script>"
    script = "<script>document.write('<p>x</p>')</script>"
    summary = f"<b>太字</b>の要約。{script}{SUMMARY}<style>p{{}}</style>"
    with_cards(case, card("/articles/markup-in-text/", headline, summary, raw=True))
    crawl = case.crawl()
    assert_outcome(row("markup-in-text"), crawl)
    stored = rows(case.db, "SELECT headline, summary FROM items WHERE url LIKE '%markup-in-text%'")
    [(stored_headline, stored_summary)] = stored
    assert stored_headline.replace(" ", "") == "NATO緊急会合で防空強化"
    assert stored_summary.replace(" ", "") == f"太字の要約。{SUMMARY}"
    versions = rows(case.db, "SELECT headline || summary FROM item_versions")
    assert not any(mark in text for (text,) in versions for mark in ("<", ">", "steal", "write"))
    assert_nothing_lost(before, case.state(), Counter(new=1))


@covers("sql-in-text")
def test_quotes_and_sql_in_pages_are_stored_verbatim(case):
    before = case.state()
    with_cards(case, card("/articles/o'hara-drop-table/", INJECTION, INJECTION + SUMMARY))
    crawl = case.crawl()
    assert_outcome(row("sql-in-text"), crawl)
    url = case.site.article_url("o'hara-drop-table")
    assert rows(case.db, "SELECT headline, summary FROM items WHERE url = ?", (url,)) == [
        (INJECTION, INJECTION + SUMMARY)
    ]
    assert scalar(case.db, "SELECT count(*) FROM items") == 21
    assert_nothing_lost(before, case.state(), Counter(new=1))


class RecordingConnection(sqlite3.Connection):
    """Records the SQL text of every statement (values bound as parameters never show)."""

    statements: ClassVar[list[str]] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self.statements.append(sql)
        return super().execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self.statements.append(sql)
        return super().executemany(sql, *args)

    def executescript(self, sql: str) -> sqlite3.Cursor:
        self.statements.append(sql)
        return super().executescript(sql)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL text archive connections run in this process, while the test runs."""
    recorded: list[str] = []
    monkeypatch.setattr(RecordingConnection, "statements", recorded)
    monkeypatch.setattr(
        "topicwatch.archive.db.sqlite3.connect",
        partial(sqlite3.connect, factory=RecordingConnection),
    )
    yield recorded


@covers("sql-in-text")
def test_values_never_become_sql_text(tmp_path, statements):
    """Store a run, read it as the crawler does, and query it with every analyst command,
    all with injection text: the text reaches SQLite only as bound values."""
    path = tmp_path / "a.db"
    url = "https://example.jp/articles/o'hara/?q=%27;DROP"
    db = open_archive(path)
    now = datetime(2026, 2, 20, tzinfo=UTC)
    run_id = begin_run(
        db, topic=INJECTION, url="https://example.jp/tag/x/", trigger="manual", started_at=now,
        pid=1,
    )  # fmt: skip
    sighting = Sighting(url, INJECTION, INJECTION, "2026-02-20", 1, 1, (INJECTION,))
    page = PageResult("https://example.jp/tag/x/", 1, sightings=(sighting,))
    report = RunReport((page,), articles=(Article(url, "", INJECTION, "", (INJECTION,)),))
    assert commit_run(db, run_id, report, now).status == "ok"
    assert topic_memory(db, "https://example.jp/tag/x/").known_urls == {url}
    assert not needing_articles(db, [(url, INJECTION, INJECTION)])
    db.close()
    for argv in analyst_commands(path, INJECTION, url, INJECTION):
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code in (0, 2), (argv, result.output)
    assert statements and not [sql for sql in statements if "O'Hara" in sql or "items; --" in sql]
    assert rows(path, "SELECT headline FROM items") == [(INJECTION,)]


def analyst_commands(db: Path, text: str, url: str, topic: str) -> list[list[str]]:
    """Every analysts' command (and ``status``), with ``text`` wherever it fits."""
    db_args = ["--db", str(db)]
    return [
        ["search", text, *db_args],
        ["search", text, "--topic", topic, "--all-versions", *db_args],
        ["changes", "--since", "30d", "--topic", topic, *db_args],
        ["history", url, *db_args],
        ["asof", "2030-01-01", "--topic", topic, *db_args],
        ["export", "--topic", topic, *db_args],
        ["gaps", "--topic", topic, *db_args],
        ["status", *db_args],
    ]


# --------------------------------------------------------------------------- analysts


ANALYSTS = ("search", "changes", "history", "asof", "export", "gaps", "serve", "daemon")


def analyst_modules() -> list[Path]:
    return [ROOT / "topicwatch" / "cli" / f"{name}.py" for name in ANALYSTS]


@covers("analysts-read-only")
def test_analysts_commands_only_open_the_archive_read_only():
    """They open it through ``reading``/``archive_at`` (read-only unless told otherwise) or
    ``open_archive(..., readonly=True)``; none passes a false ``readonly``."""
    opens = []
    for path in analyst_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(node, "func", None) and getattr(node.func, "id", "")  # type: ignore[attr-defined]
            if isinstance(node, ast.Call) and name in ("open_archive", "archive_at", "reading"):
                readonly = {k.arg: k.value for k in node.keywords}.get("readonly")
                value = getattr(readonly, "value", None)
                opens.append((path.name, node.lineno, name, value))
                assert value is not False, (path.name, node.lineno)
                assert name != "open_archive" or value is True, (path.name, node.lineno)
    assert opens
    source = (ROOT / "topicwatch" / "cli" / "options.py").read_text(encoding="utf-8")
    assert "def archive_at(path: str, *, readonly: bool = True)" in source


@covers("analysts-read-only")
def test_analysts_commands_leave_the_archive_file_untouched(case, monkeypatch):
    opened: list[bool] = []
    real = open_archive

    def spy(path: Any, *, readonly: bool = False) -> Any:
        opened.append(readonly)
        return real(path, readonly=readonly)

    for module in ("topicwatch.cli.options", "topicwatch.cli.daemon"):
        monkeypatch.setattr(f"{module}.open_archive", spy)
    digest = hashlib.sha256(case.db.read_bytes()).hexdigest()
    commands = analyst_commands(case.db, "北極", case.site.article_url(SEED[0].slug), "nato")
    for argv in commands:
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 0, (argv, result.output)
    assert len(opened) >= len(commands) and all(opened)
    assert hashlib.sha256(case.db.read_bytes()).hexdigest() == digest
    assert not Path(f"{case.db}-wal").exists() or Path(f"{case.db}-wal").stat().st_size == 0


# --------------------------------------------------------------------------- secrets

SECRETS = ("S3CRETPATH", "S3CRETQUERY")


@covers("secret-in-logs")
def test_a_failing_webhook_never_prints_its_secret(case, tmp_path):
    hook = f"/hooks/{SECRETS[0]}"
    case.site.fail(P, 503)
    case.site.fail(hook, 500)
    webhook = f"{case.site.base_url}{hook}?token={SECRETS[1]}"
    config = write_config(
        tmp_path / "tw.toml",
        case.db,
        [{"name": "nato", "url": case.site.topic_url()}],
        defaults={"every": "1s"},
        settings={"RETRY_TIMES": "0"},
        alerts={"after": 1, "webhook": webhook},
    )
    with Daemon(config) as daemon:
        wait_until(lambda: case.site.hits(hook), what="the webhook attempt")
        daemon.wait_for_output("not sent")
        assert daemon.stop() == 0
    status = [
        subprocess.run(
            [sys.executable, "-m", "topicwatch", "status", "--db", str(case.db), *json_flag],
            capture_output=True, text=True, env=child_env(), timeout=60,
        )
        for json_flag in ([], ["--json"])
    ]  # fmt: skip
    archived = json.dumps(rows(case.db, "SELECT * FROM daemon_alerts"))
    printed = [daemon.output, archived, *(s.stdout + s.stderr for s in status)]
    assert "answered HTTP 500" in daemon.output
    assert not [secret for secret in SECRETS for text in printed if secret in text]


@covers("webhook-userinfo")
def test_webhook_credentials_are_never_resolved_as_a_host_name(monkeypatch):
    looked_up: list[str] = []

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        raise socket.gaierror(socket.EAI_NONAME, "not resolved in tests")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(HookError) as raised:
        post_webhook("http://alerts:S3CRETPW@127.0.0.1:9/hook", {"event": "test"}, timeout=1)
    assert "S3CRETPW" not in str(raised.value)
    assert not [host for host in looked_up if "S3CRETPW" in host]


@covers("webhook-userinfo")
def test_webhook_credentials_go_to_the_webhook_as_basic_auth():
    with WebhookReceiver() as receiver:
        with_userinfo = receiver.url.replace("http://", "http://alerts:S3CRET%40PW@")
        post_webhook(with_userinfo, {"event": "test"}, timeout=5)
    assert receiver.received == [("/hook", {"event": "test"})]
    token = base64.b64encode(b"alerts:S3CRET@PW").decode()
    assert receiver.authorizations == [f"Basic {token}"]
