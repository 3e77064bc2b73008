"""The requests the daemon makes itself end by a total deadline, and can be abandoned.

A server that answers and then drips one header byte every 0.2 s never trips a socket
timeout (each read succeeds): these tests check that webhooks (the daemon's only HTTP
client: every page request is Scrapy's, in a crawl worker) and alert commands still end
on time, let go of the connection, and stop at once when the daemon stops. Calls run on
a helper thread joined with a deadline, so code that hangs fails the test instead of
hanging it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import wait_until
from fault_site import DRIP, FaultSite, Witness

from topicwatch.daemon.bounded import Abandoned, Cancelled, Inflight, bounded
from topicwatch.daemon.hooks import HookCancelled, HookError, post_webhook, run_command

HOOK = "/hooks/alert"


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests take proxies from the environment: here nothing may leave 127.0.0.1."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def site() -> Iterator[FaultSite]:
    with FaultSite() as running:
        yield running


def within(seconds: float, call: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``call`` on a thread; (its duration, its value or exception) if it ends in
    ``seconds``, else fail the test (old code hangs here)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as error:
            outcome.append(error)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds}s"
    return time.monotonic() - started, outcome[0]


def no_thread_named(prefix: str) -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith(prefix)]


# --------------------------------------------------------------------------- hooks


def test_a_dripping_webhook_ends_at_its_timeout_and_lets_go(site):
    site.deliver(HOOK, DRIP)
    took, raised = within(15, lambda: post_webhook(site.base_url + HOOK, {"e": 1}, timeout=1))
    assert isinstance(raised, HookError) and "did not answer within 1s" in str(raised)
    assert took < 5
    wait_until(lambda: site.hangups(HOOK), timeout=5, what="the webhook socket shut")
    wait_until(lambda: no_thread_named("webhook "), timeout=5, what="its worker ending")


def test_closing_the_inflight_registry_abandons_a_dripping_webhook_at_once(site):
    site.deliver(HOOK, DRIP)
    inflight = Inflight()
    outcome: list[BaseException] = []

    def deliver() -> None:
        try:
            post_webhook(site.base_url + HOOK, {"e": 1}, timeout=60, inflight=inflight)
        except HookError as error:
            outcome.append(error)

    waiting = threading.Thread(target=deliver, daemon=True)
    waiting.start()
    wait_until(lambda: site.hits(HOOK) == 1, what="the dripping request")
    started = time.monotonic()
    assert inflight.close() == 1
    waiting.join(5)
    assert not waiting.is_alive() and time.monotonic() - started < 2
    assert isinstance(outcome[0], HookCancelled)
    wait_until(lambda: site.hangups(HOOK), timeout=5, what="the socket shut")
    with pytest.raises(Cancelled):  # closed for good: nothing new starts
        bounded(lambda task: 1, 5, what="late work", inflight=inflight)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_webhook_redirect_is_never_followed(site, status):
    with Witness() as elsewhere:
        site.fail(HOOK, status, headers={"Location": elsewhere.base_url + "/collect"})
        url = site.base_url.replace("http://", "http://alerts:S3CRET@") + HOOK
        with pytest.raises(HookError) as raised:
            post_webhook(url, {"event": "failing"}, timeout=5)
        assert not elsewhere.was_contacted()
    assert f"answered HTTP {status} (redirects are not followed)" in str(raised.value)
    assert "S3CRET" not in str(raised.value)
    assert [r.method for r in site.requests] == ["POST"]


@pytest.mark.parametrize("status", [304, 404, 500])
def test_only_a_2xx_answer_to_the_post_is_delivered(site, status):
    site.fail(HOOK, status)
    with pytest.raises(HookError, match=f"answered HTTP {status}"):
        post_webhook(site.base_url + HOOK, {"event": "failing"}, timeout=5)


def test_an_alert_command_is_killed_when_the_daemon_stops(tmp_path):
    pid_file = tmp_path / "pid"
    script = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    inflight = Inflight()
    outcome: list[BaseException] = []

    def deliver() -> None:
        try:
            run_command((sys.executable, "-c", script), {}, timeout=60, inflight=inflight)
        except HookError as error:
            outcome.append(error)

    worker = threading.Thread(target=deliver, daemon=True)
    worker.start()
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), what="the command running")
    inflight.close()
    worker.join(5)
    assert not worker.is_alive() and isinstance(outcome[0], HookCancelled)
    pid = int(pid_file.read_text())
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), what="the kill")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_an_alert_command_over_its_timeout_is_killed(tmp_path):
    script = "import time; time.sleep(60)"
    took, raised = within(15, lambda: run_command((sys.executable, "-c", script), {}, timeout=1))
    assert isinstance(raised, HookError) and "timed out after 1s" in str(raised)
    assert took < 5


# --------------------------------------------------------------------------- bounded


def test_bounded_returns_the_value_or_raises_what_the_work_raised():
    assert bounded(lambda task: 42, 5, what="answer") == 42
    with pytest.raises(ZeroDivisionError):
        bounded(lambda task: 1 / 0, 5, what="division")
    released = threading.Event()

    def hold_and_wait(task: Any) -> None:
        task.hold(released.set)
        time.sleep(30)

    with pytest.raises(Abandoned, match=r"slow work took longer than 0\.2s"):
        bounded(hold_and_wait, 0.2, what="slow work")
    assert released.is_set()


def test_no_worker_outlives_an_ordinary_answer(site):
    before = threading.active_count()
    for _ in range(5):  # the listing's path answers a POST with 200: delivered
        post_webhook(site.base_url + "/articles/tag/nato/", {"e": 1}, timeout=5)
    wait_until(lambda: threading.active_count() <= before, timeout=5, what="workers ending")


def test_a_crawl_timeout_of_weeks_does_not_overflow_the_wait():
    """A config's `timeout = "30d"` is valid; a single 30-day wait overflowed poll()."""
    from topicwatch.daemon.crawl_processes import Children

    done = Children().run([sys.executable, "-c", "print('finished')"], timeout=30 * 86400.0)
    assert done is not None
    assert (done.returncode, done.stdout.strip(), done.timed_out) == (0, "finished", False)
