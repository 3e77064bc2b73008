"""The fault matrix, hosts: a crawl fetches from the topic's origin and the hosts it lists.

A redirect to the same host on another port (a metadata or Redis port) or to a subdomain
is refused before any connection is made; a host listed in ``allow_hosts`` is followed.
"Another port" is tested for real with two local servers on 127.0.0.1; "a subdomain" with
``localhost``, the one name the crawl's test resolver answers for.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from conftest import child_env, rows
from daemon_helpers import Daemon, runs, wait_until, write_config
from fault_checks import (  # noqa: F401 (fixtures)
    FAULT_SETTINGS,
    TOPIC_PATH,
    Case,
    assert_nothing_lost,
    assert_outcome,
    baseline_fixture,
    case_fixture,
    fault_env,
    fault_site_fixture,
)
from fault_matrix import row
from fault_matrix import rows as matrix_rows
from fault_site import Witness
from fixture_site import FixtureSite, make_articles

from topicwatch.archive import open_archive
from topicwatch.origins import Origins, host_entries

P = TOPIC_PATH
COVERED: set[str] = set()


def covers(fault_id: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    row(fault_id)
    COVERED.add(fault_id)
    return lambda test: test


def test_every_row_is_covered():
    assert {fault.id for fault in matrix_rows("hosts")} == COVERED


@covers("redirect-other-port")
def test_a_redirect_to_another_port_of_the_same_host_is_refused(case):
    before = case.state()
    with Witness("127.0.0.1") as other_port:
        case.site.serve_raw(P, b"", status=301, headers={"Location": other_port.base_url + P})
        crawl = case.crawl()
        assert not other_port.was_contacted()
    assert_outcome(row("redirect-other-port"), crawl)
    assert other_port.base_url in crawl.run["error"]
    assert_nothing_lost(before, case.state())


@covers("redirect-subdomain")
def test_a_redirect_to_a_subdomain_is_refused(case):
    before = case.state()
    port = case.site.base_url.rsplit(":", 1)[1]
    case.site.serve_raw(
        P, b"", status=302, headers={"Location": f"http://news.localhost:{port}{P}"}
    )
    crawl = case.crawl("--topic", "nato-localhost", url=f"http://localhost:{port}{P}")
    # Followed, it would fail as a DNS error (`network`): refused, no lookup is made.
    assert_outcome(row("redirect-subdomain"), crawl)
    assert_nothing_lost(before, case.state())


@covers("article-redirect-other-port")
def test_an_article_page_redirecting_to_another_port_is_not_followed(case):
    before = case.state()
    fresh = make_articles(1, start=900)
    case.site.add_articles(fresh)
    article = f"/articles/{fresh[0].slug}/"
    with Witness("127.0.0.1") as other_port:
        case.site.serve_raw(article, b"", 302, headers={"Location": other_port.base_url + "/x"})
        crawl = case.crawl()
        assert not other_port.was_contacted()
    assert case.site.hits(article) == 1
    assert_outcome(row("article-redirect-other-port"), crawl)
    assert_nothing_lost(before, case.state(), Counter(new=1))


@covers("redirect-allowed-host")
def test_a_host_listed_in_allow_hosts_is_followed(case, tmp_path):
    # A topic new to the archive: a known topic whose page turned into twenty unrelated
    # items at once would (rightly) be refused by the layout guard.
    case = Case(case.site, tmp_path / "fresh.db")
    open_archive(case.db).close()
    before = case.state()
    with FixtureSite({"nato": make_articles(20, start=950)}) as mirror:
        mirror.conditional = False
        other = mirror.base_url.removeprefix("http://")
        case.site.serve_raw(P, b"", status=301, headers={"Location": mirror.topic_url()})
        refused = case.crawl()
        assert refused.run["reason"] == "refused" and mirror.hits(P) == 0
        config = write_config(
            tmp_path / "tw.toml", case.db, [{"name": "nato", "url": case.site.topic_url()}],
            defaults={"every": "1s", "allow_hosts": [other]},
            settings={k: v for k, v in FAULT_SETTINGS.items() if k != "TWISTED_DNS_RESOLVER"},
        )  # fmt: skip
        with Daemon(config) as daemon:
            run = wait_until(lambda: scheduled_ok(case.db), what="the daemon's run")[0]
            assert daemon.stop() == 0
        assert mirror.hits(P) >= 1
    fault = row("redirect-allowed-host")
    assert (run["status"], run["trigger"]) == (fault.run, "schedule")
    listed = rows(case.db, "SELECT url FROM items WHERE url LIKE ?", (f"%{other}%",))
    assert len(listed) == 20
    assert_nothing_lost(before, case.state(), Counter(new=20))


def scheduled_ok(db: Any) -> list[dict[str, Any]]:
    return [r for r in runs(db, "nato", "ok") if r["trigger"] == "schedule"]


@covers("bad-allow-hosts")
@pytest.mark.parametrize(
    "entry", ["https://cdn.example.jp/", "*.example.jp", "cdn.example.jp:99999", "a@b", ""]
)
def test_a_bad_allow_hosts_entry_is_a_usage_error(entry, tmp_path):
    fault = row("bad-allow-hosts")
    config = tmp_path / "tw.toml"
    config.write_text(
        f'db = "{tmp_path / "a.db"}"\n[[topic]]\nurl = "https://example.jp/tag/x/"\n'
        f'allow_hosts = ["{entry}"]\n',
        encoding="utf-8",
    )
    crawl_argv = ["crawl", "--url", "http://127.0.0.1:9/t/", "--db", str(tmp_path / "a.db")]
    for argv in (
        ["daemon", "--config", str(config)],
        [*crawl_argv, "-s", f"TOPICWATCH_ALLOW_HOSTS=ok.example.jp,{entry}"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "topicwatch", *argv],
            capture_output=True, text=True, env=child_env(), timeout=60,
        )  # fmt: skip
        assert done.returncode == int(fault.exit), done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and fault.error in errors[0].lower(), done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "a.db").exists()


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.jp/tag/nato/page/2/", True),
        ("https://EXAMPLE.jp:443/a/", True),
        ("https://www.example.jp/a/", True),  # the www twin
        ("https://example.jp:8443/a/", False),  # another port: another service
        ("https://example.jp:6379/a/", False),
        ("http://example.jp/a/", False),  # a downgrade to http
        ("https://news.example.jp/a/", False),  # a subdomain
        ("https://evil-example.jp/a/", False),
        ("https://example.jp.evil.test/a/", False),
        ("https://cdn.example.jp/img/1.jpg", True),  # listed
        ("http://cdn.example.jp/img/1.jpg", True),
        ("https://cdn.example.jp:8443/img/1.jpg", False),
        ("https://img.example.jp:8443/1.jpg", True),  # listed with its port
        ("https://img.example.jp/1.jpg", False),
        ("ftp://example.jp/a/", False),
        ("https://[::1", False),
    ],
)
def test_origins_of_an_https_topic(url, allowed):
    origins = Origins("https://www.example.jp/tag/nato/", ["cdn.example.jp", "img.example.jp:8443"])
    assert origins.permit(url) is allowed


def test_an_http_topic_may_move_to_https_on_the_default_ports_only():
    origins = Origins("http://example.jp/tag/nato/")
    assert origins.permit("https://example.jp/tag/nato/")
    assert origins.permit("https://www.example.jp/tag/nato/")
    assert not origins.permit("https://example.jp:8443/tag/nato/")
    on_a_port = Origins("http://127.0.0.1:8080/tag/nato/")
    assert on_a_port.permit("http://127.0.0.1:8080/x/")
    assert not on_a_port.permit("https://127.0.0.1:8080/x/")
    assert not on_a_port.permit("http://127.0.0.1:8081/x/")


def test_host_entries_are_normalised():
    assert host_entries([" CDN.Example.jp ", "img.example.jp:8443", "[::1]:9000", "例え.jp"]) == (
        "cdn.example.jp", "img.example.jp:8443", "[::1]:9000", "xn--r8jz45g.jp",
    )  # fmt: skip
    assert Origins("https://a.jp/", ["例え.jp"]).permit("https://xn--r8jz45g.jp/x")
