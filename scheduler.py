"""The topicwatch daemon's entry point: re-crawl every configured topic on its schedule.

``python scheduler.py [--config FILE] [--log-json]`` (or ``python -m scheduler`` from a
checkout) is ``topicwatch daemon``: the same command, options and checks, then the daemon
itself (topicwatch.daemon.service) in this process. Nothing imports this file.
"""

from topicwatch.cli.daemon import daemon_command

if __name__ == "__main__":
    daemon_command(prog_name="scheduler.py")
