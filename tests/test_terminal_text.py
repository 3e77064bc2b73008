"""Texts from strangers never act on the analyst's terminal; the archive keeps them as sent.

A page's headline may carry ``ESC ] 52`` (write the clipboard), ``ESC ] 0`` (set the
window title), ``ESC [ 8m`` (conceal what follows) or a bidi override. They were written
raw by ``changes``, ``history``, ``search`` and the rest, to terminals and to pipes. A real
crawl archives such a page; every command then runs through the CLI (a pipe) and, for
the table and CSV, through a real pseudo-terminal.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from html import escape
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import child_env, on_a_terminal, rows
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
from fixture_site import load_seed_articles

from topicwatch.cli import cli
from topicwatch.printable import printable, to_json

SEED = load_seed_articles()
CLIPBOARD = "\x1b]52;c;ZXZpbA==\x07"  # OSC 52: put "evil" on the clipboard
TITLE = "\x1b]0;pwned\x07"  # OSC 0: the window title
CONCEAL = "\x1b[8m"  # SGR 8: hide what follows
OVERRIDE = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
HEADLINE = f"速報{CLIPBOARD}北極"
SUMMARY = f"NATO{TITLE}国防相{CONCEAL}会合{OVERRIDE}txt.exe"
EDIT = f"{SEED[0].headline}{CONCEAL}"
# Raw: anything that acts on a terminal; our own colours are SGR runs ``ESC [ … m``.
ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
OUR_STYLES = re.compile(r"\x1b\[[0-9;]*m")


def char_refs(text: str) -> str:
    """``text`` as HTML, controls as numeric character references (as a hostile page has)."""
    return "".join(f"&#{ord(c)};" if ACTING.match(c) else escape(c) for c in text)


def card(slug: str, headline: str, summary: str) -> str:
    return (
        f'<article class="p-card"><a class="p-card__link" href="/articles/{slug}/">'
        f'<div class="p-card__body"><h3 class="p-card__title">{char_refs(headline)}</h3>'
        f'<p class="p-card__excerpt">{char_refs(summary)}</p>'
        '<time class="p-card__date" datetime="2026-02-20T09:00:00+09:00">2026.02.20</time>'
        "</div></a></article>"
    )


@pytest.fixture
def hostile(case: Case) -> Case:
    """The baseline archive after a real crawl of a page with a hostile card and edit."""
    before = case.state()
    page = case.site.page_bytes(TOPIC_PATH).decode()
    title = f">{escape(SEED[0].headline)}</h"  # the lead block's and the card's
    page = page.replace(title, f">{char_refs(EDIT)}</h")
    end = page.index("</div>\n</section>", page.index('class="p-topic-list__items"'))
    hostile_card = card("hostile-text", HEADLINE, SUMMARY + "。" + SEED[1].summary)
    case.site.serve_raw(TOPIC_PATH, (page[:end] + hostile_card + page[end:]).encode())
    crawl = case.crawl()
    assert_outcome(row("terminal-escapes"), crawl)
    assert_nothing_lost(before, case.state(), Counter(new=1, edited=1))
    return case


def test_the_archive_keeps_what_was_published(hostile):
    stored = dict(rows(hostile.db, "SELECT url, headline FROM items"))
    assert stored[hostile.site.article_url("hostile-text")] == HEADLINE
    assert stored[hostile.site.article_url(SEED[0].slug)] == EDIT


def human_outputs(db: Path, item_id: int) -> dict[str, list[str]]:
    since = ["--since", "2000-01-01"]
    return {
        "changes": ["changes", *since],
        "history": ["history", str(item_id)],
        "search": ["search", "北極", "--all-versions"],
        "asof": ["asof", "now"],
        "gaps": ["gaps"],
        "status": ["status"],
    }


def item_id(case: Case, slug: str) -> int:
    url = case.site.article_url(slug)
    return int(rows(case.db, "SELECT id FROM items WHERE url = ?", (url,))[0][0])


def test_every_human_output_shows_controls_escaped(hostile):
    """Through a pipe (the CLI runner): nothing acts, everything is shown escaped."""
    shown = ""
    for slug in ("hostile-text", SEED[0].slug):
        for name, argv in human_outputs(hostile.db, item_id(hostile, slug)).items():
            result = CliRunner().invoke(cli, [*argv, "--db", str(hostile.db)])
            assert result.exit_code == 0, (name, result.output)
            assert not ACTING.findall(result.output), (name, result.output)
            shown += result.output
    for text in (CLIPBOARD, TITLE, CONCEAL, OVERRIDE):
        assert printable(text) in shown  # e.g. \x1b]52;c;ZXZpbA==\x07, \u202e


def strings(data: object) -> set[str]:
    if isinstance(data, dict):
        return set().union(*map(strings, data.values()))
    if isinstance(data, list):
        return set().union(*map(strings, data))
    return {data} if isinstance(data, str) else set()


def test_json_escapes_them_as_json_does(hostile):
    hostile_id = str(item_id(hostile, "hostile-text"))
    for argv in (["history", hostile_id, "--json"], ["changes", "--since", "2000-01-01", "--json"]):
        result = CliRunner().invoke(cli, [*argv, "--db", str(hostile.db)])
        assert result.exit_code == 0, result.output
        assert not ACTING.findall(result.output), result.output
        assert "\\u001b]52;c;ZXZpbA==\\u0007" in result.output and "\\u202e" in result.output
        assert HEADLINE in strings(json.loads(result.output))  # the same data once parsed
    jsonl = CliRunner().invoke(cli, ["export", "--db", str(hostile.db)]).output
    assert not ACTING.findall(jsonl)
    assert {json.loads(line)["headline"] for line in jsonl.splitlines()} >= {HEADLINE, EDIT}


def test_csv_and_atom_to_a_pipe_are_the_data_as_published(hostile):
    """Data formats for programs: to a file or pipe, the text as published (Atom drops
    only what XML cannot carry: C0 controls); to a terminal, escaped (below)."""
    csv = ["changes", "--since", "2000-01-01", "--csv", "--db", str(hostile.db)]
    assert HEADLINE in CliRunner().invoke(cli, csv).output
    atom = CliRunner().invoke(cli, ["export", "--format", "atom", "--db", str(hostile.db)])
    assert f"会合{OVERRIDE}txt.exe" in atom.output


def on_a_terminal_ok(*argv: str) -> str:
    """What a terminal shows of a ``topicwatch`` command that must succeed."""
    code, received = on_a_terminal(*argv)
    assert code == 0, received
    return received


@pytest.mark.parametrize(
    "argv",
    [
        ("changes", "--since", "2000-01-01"),
        ("changes", "--since", "2000-01-01", "--csv"),
        ("export", "--format", "atom"),
    ],
    ids=["table", "csv", "atom"],
)
def test_a_real_terminal_only_ever_gets_our_colours(hostile, argv):
    received = on_a_terminal_ok(*argv, "--db", str(hostile.db))
    if argv[0] == "changes":  # (Atom never carries C0: XML cannot)
        assert printable(CLIPBOARD) in received
    assert printable(CONCEAL if argv[-1] == "2000-01-01" else OVERRIDE) in received
    assert not ACTING.findall(OUR_STYLES.sub("", received).replace("\r\n", "\n")), received


def test_error_lines_show_controls_escaped(hostile):
    result = CliRunner().invoke(cli, ["changes", "--topic", TITLE, "--db", str(hostile.db)])
    assert result.exit_code == 2
    assert not ACTING.findall(result.output) and result.output.count("\n") == 1


def test_printable_and_json_escapes():
    assert printable("a\x1b]0;t\x07\x9b\u2028\u202e\u2066b\ufdd0") == (
        "a\\x1b]0;t\\x07\\x9b\\u2028\\u202e\\u2066b\\ufdd0"
    )
    assert printable("ＮＡＴＯ 北極\u200d👩‍💻") == "ＮＡＴＯ 北極\u200d👩‍💻"  # ZWJ kept
    assert to_json(["\x1b\x85\u2029"]) == '[\n  "\\u001b\\u0085\\u2029"\n]'
    assert json.loads(to_json(["\x1b\x85\u2029"])) == ["\x1b\x85\u2029"]


def test_show_snapshot_escapes_the_raw_page_on_a_terminal_only(case):
    """The stored page is the site's bytes, ``ESC ] 0`` and a C1 CSI (0x9b) included:
    a terminal is sent them escaped, a pipe gets them unchanged."""
    page = case.site.page_bytes(TOPIC_PATH)
    raw = f"<!-- {TITLE}{CONCEAL}\u0085 -->\t</body>".encode()
    case.site.serve_raw(TOPIC_PATH, page.replace(b"</body>", raw))
    crawl = case.crawl()
    assert crawl.returncode == 0, crawl.stderr
    run_id = str(crawl.run["id"])
    received = on_a_terminal_ok("show-snapshot", run_id, "--db", str(case.db))
    assert printable(TITLE + CONCEAL + "\x85") in received
    assert not ACTING.findall(received.replace("\r\n", "\n")), received[-300:]
    piped = subprocess.run(
        [sys.executable, "-m", "topicwatch", "show-snapshot", run_id, "--db", str(case.db)],
        capture_output=True, env=child_env(), timeout=60,
    )  # fmt: skip
    assert piped.returncode == 0 and raw in piped.stdout
