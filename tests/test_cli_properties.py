"""The analysts' commands answer any argument with an answer or one line, never a traceback.

Out-of-range input used to escape as OverflowError and friends: ``changes --since
999999999d``, ``asof 0001-01-01T00:00+09:00``, ``export --since 0001-01-01T00:00:00+00:01``,
``prune --keep 99999999999d``, ``show-snapshot 99999999999999999999999``, ``history`` of a
huge id. Hypothesis drives every read command with generated dates, durations, ids,
limits and odd strings against a small real archive (one crawl), through the CLI.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from fault_checks import baseline_fixture, fault_site_fixture  # noqa: F401 (fixtures)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topicwatch.cli import cli

ODD = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=24)
NUMBER = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64, 10**19]),
    st.integers(min_value=10**18, max_value=10**40),
)
OFFSET = st.integers(min_value=-1439, max_value=1439).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
EDGE_MOMENTS = st.sampled_from(
    [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC), datetime(1970, 1, 1)]
)
MOMENT = st.one_of(st.datetimes(timezones=st.none() | OFFSET), EDGE_MOMENTS)
WHEN = st.one_of(
    MOMENT.map(lambda moment: moment.isoformat()),
    MOMENT.map(lambda moment: moment.date().isoformat()),
    st.builds(lambda n, unit: f"{n}{unit}", NUMBER.map(abs), st.sampled_from("smhdwSMHDW")),
    st.sampled_from(["now", "0001-01-01T00:00+09:00", "9999-12-31T23:59:59-23:59", "7d"]),
    ODD,
)
ID = st.one_of(NUMBER.map(str), NUMBER.map(lambda n: f"v{abs(n)}"), ODD, st.just("1"))
TOPIC = st.one_of(st.just("nato"), ODD)


def optional(flag: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), values.map(lambda value: [flag, value]))


def command(name: str, *parts: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*parts).map(lambda chosen: [name, *(arg for part in chosen for arg in part)])


def single(values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return values.map(lambda value: [value])


FORMAT = st.sampled_from([[], ["--json"], ["--csv"]])
LIMIT = NUMBER.map(str)
COMMANDS = st.one_of(
    command(
        "search", single(ODD | st.sampled_from(["北極", "NATO", "ＮＡＴＯ 防衛"])),
        optional("--since", WHEN), optional("--until", WHEN), optional("--limit", LIMIT),
        optional("--topic", TOPIC), st.sampled_from([[], ["--all-versions"]]), FORMAT,
    ),
    command(
        "changes", optional("--since", WHEN), optional("--until", WHEN),
        optional("--limit", LIMIT), optional("--topic", TOPIC),
        optional("--kind", st.sampled_from(["new", "edited", "vanished"]) | ODD), FORMAT,
    ),
    command("history", single(ID | ODD.map(lambda s: f"https://x/{s}")), st.sampled_from([[], ["--json"]])),  # noqa: E501
    command("asof", single(WHEN), optional("--topic", TOPIC), FORMAT),
    command(
        "export", optional("--since", WHEN), optional("--limit", LIMIT),
        optional("--topic", TOPIC), optional("--format", st.sampled_from(["csv", "jsonl", "atom"]) | ODD),  # noqa: E501
    ),
    command("gaps", optional("--topic", TOPIC), FORMAT),
    command("show-snapshot", single(ID), optional("--page", LIMIT)),
    command("prune", st.just(["--dry-run"]), single(WHEN).map(lambda w: ["--keep", *w])),
    command("reparse", st.just(["--dry-run"]), optional("--since", WHEN), optional("--topic", TOPIC)),  # noqa: E501
    command("status", st.sampled_from([[], ["--json"]])),
)  # fmt: skip


@pytest.fixture(scope="module")
def archive(baseline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("properties") / "archive.db"
    target.write_bytes(baseline.read_bytes())
    return target


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=COMMANDS)
def test_any_arguments_get_an_answer_or_one_line(archive, argv):
    result = CliRunner().invoke(cli, [*argv, "--db", str(archive)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        argv,
        result.exception,
    )
    assert result.exit_code in (0, 1, 2), (argv, result.output)
    assert "Traceback" not in result.output
    if result.exit_code:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, (argv, result.stderr)


@pytest.mark.parametrize(
    "argv",
    [
        ["changes", "--since", "999999999d"],
        ["asof", "0001-01-01T00:00+09:00"],
        ["export", "--since", "0001-01-01T00:00:00+00:01"],
        ["prune", "--keep", "99999999999d", "--dry-run"],
        ["prune", "--keep", "99999999999d"],
        ["show-snapshot", "99999999999999999999999"],
        ["show-snapshot", "v99999999999999999999999"],
        ["history", "99999999999999999999999"],
        ["history", "²"],
        ["search", "北極", "--limit", "99999999999999999999"],
        ["changes", "--since", "9" * 5000 + "d"],
    ],
    ids=" ".join,
)
def test_the_reported_arguments_are_one_line_and_exit_2(archive, argv):
    before = hashlib.sha256(archive.read_bytes()).hexdigest()
    result = CliRunner().invoke(cli, [*argv, "--db", str(archive)])
    assert result.exit_code == 2, (result.exception, result.output)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.stderr
    if "Invalid value" not in errors[0]:  # not refused by click's own parsing
        assert result.stderr.count("\n") == 1, result.stderr
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before
