"""topicwatch's archive: one SQLite file of topics, items with versions, runs and changes.

Imports only the standard library and sqlite-utils (a test keeps it so), so analysts can
use it from a REPL and the crawler, the CLI and the daemon share one implementation.
"""

from topicwatch.archive.db import ArchiveError, open_archive, write_transaction
from topicwatch.archive.lock import TopicBusy, topic_lock

__all__ = ["ArchiveError", "TopicBusy", "open_archive", "topic_lock", "write_transaction"]
