"""Per-thread SQLite connections for request handlers: one read-only, one read-write."""

from __future__ import annotations

import sqlite3

import store


class Db:
    """One read-only and one read-write connection per thread (sqlite3 rule: one per thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._readers = store.ThreadConnections(path, readonly=True)
        self._writers = store.ThreadConnections(path)

    def read(self) -> sqlite3.Connection:
        return self._readers.get()

    def write(self) -> sqlite3.Connection:
        return self._writers.get()
