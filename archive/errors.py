"""The archive's one error type, in a module of its own so that every archive module can
raise it without importing the module that opens the file."""

from __future__ import annotations


class ArchiveError(Exception):
    """The archive cannot be used as asked; the message is one line for the operator."""
