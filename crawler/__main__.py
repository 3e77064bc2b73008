"""``python -m crawler`` is the ``topicwatch`` command (used by the daemon and the tests)."""

from crawler.cli import cli

cli(prog_name="topicwatch")
