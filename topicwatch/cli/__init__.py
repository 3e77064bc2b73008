"""The ``topicwatch`` command: a thin click layer over the archive, the crawler and the daemon.

Each command parses options, calls the library, and formats the result; errors from the
library become one-line messages with exit code 2 (usage) or 1 (failed run).

Commands are loaded when named (click's lazy-group recipe): ``topicwatch search`` imports
the analysts' module and nothing else, and no command imports Scrapy, lxml or Datasette
until it runs one, so the analysts' commands start about as fast as sqlite-utils' own.
"""

from __future__ import annotations

import errno
import importlib
import os
import re
import sys
from typing import Any

import click

from topicwatch import __version__
from topicwatch.cli.output import Problem

# Command name -> "module:attribute", in the order ``--help`` lists them.
COMMANDS = {
    "crawl": "topicwatch.cli.crawl:crawl_command",
    "daemon": "topicwatch.cli.daemon:daemon_command",
    "status": "topicwatch.cli.daemon:status_command",
    "search": "topicwatch.cli.search:search_command",
    "changes": "topicwatch.cli.changes:changes_command",
    "history": "topicwatch.cli.history:history_command",
    "asof": "topicwatch.cli.asof:asof_command",
    "export": "topicwatch.cli.export:export_command",
    "gaps": "topicwatch.cli.gaps:gaps_command",
    "serve": "topicwatch.cli.serve:serve_command",
    "reparse": "topicwatch.cli.reparse:reparse_command",
    "show-snapshot": "topicwatch.cli.snapshots:show_snapshot_command",
    "prune": "topicwatch.cli.snapshots:prune_command",
    "topics": "topicwatch.cli.topics:topics_command",
    "watches": "topicwatch.cli.watches:watches_command",
}


# Python hands bytes of an argument that are not UTF-8 over as lone surrogates
# (surrogateescape); no output stream, SQLite or JSON can encode them.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
# What a write answers on a full disk (or past the file-size limit).
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class OutputFailed(click.ClickException):
    """The command's output could not be written (a full disk behind ``>``): one line."""

    exit_code = 1


class LazyGroup(click.Group):
    """A group whose subcommands are imported when looked up, not when it is built."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Refuse an argument that is not UTF-8 text before any command sees it: each
        would fail on it differently (a traceback when it is printed or queried)."""
        for position, arg in enumerate(args, start=1):
            if _NOT_UTF8.search(arg):
                raw = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                raise Problem(
                    f"argument {position} is not UTF-8 text: '{raw}' (topicwatch takes UTF-8"
                    " arguments; check the terminal's locale)"
                )
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command and flush its output here, so that a full disk behind ``>``
        is one line (it was a traceback, or Python's "Exception ignored" at exit)."""
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()
        except OSError as error:
            if error.errno not in _FULL:
                raise
            _silence_stdout()
            raise OutputFailed(f"cannot write the output: {error.strerror}") from None
        return result

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == cmd_name, target
        return command


def _silence_stdout() -> None:
    """Point standard output at /dev/null: what is still buffered for a full disk would
    fail again in the interpreter's last flush ("Exception ignored")."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="topicwatch")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """topicwatch: archive news topic listing pages with change detection.

    Crawl a topic listing (default: novaist.jp's NATO tag) into an SQLite archive that
    keeps every headline and summary version, every run, and every change.
    Set NO_COLOR (https://no-color.org) for output without colours.
    """
    if os.environ.get("NO_COLOR"):  # set and not empty, as no-color.org asks
        ctx.color = False  # click.echo then strips styles; subcommands inherit it
