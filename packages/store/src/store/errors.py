"""Exceptions raised by the store: one class per condition, each naming what was wrong."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class InvalidInput(StoreError):
    """A value given to a store function is not acceptable; names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UnsupportedDatabase(InvalidInput):
    """`--db` names a database this program cannot use: a URL scheme Switchboard does not
    support, or a backend this program does not run on yet; names the value (password hidden)."""

    def __init__(self, field: str, shown: str, why: str) -> None:
        super().__init__(field, f"{shown!r} {why}")
        self.shown = shown
        self.why = why


class UnsuitableDatabase(StoreError):
    """A PostgreSQL database whose encoding or collation would change what the store reads
    (text order, bytes); names what it has and how to create one that fits."""


class SchemaTooNew(StoreError):
    """The database was migrated by newer code than this one; nothing was written."""


class NotFound(StoreError):
    """A row the caller named does not exist."""


class UnsafeFile(StoreError):
    """A file to read or write is not a plain file (a symlink, a FIFO, a directory …); it was
    left alone. Names the path and what it is."""


class OutsideTransaction(StoreError):
    """A write that must share its caller's transaction was called outside one; names it."""
