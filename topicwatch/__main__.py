"""``python -m topicwatch`` is the ``topicwatch`` command (used by the daemon and the tests)."""

from topicwatch.cli import cli

cli(prog_name="topicwatch")
