"""Per-thread SQLite connections for request handlers: one read-only, one read-write."""

from __future__ import annotations

import sqlite3
import threading

import store


class Db:
    """One read-only and one read-write connection per thread (sqlite3 rule: one per thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def read(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "ro", None)
        if conn is None:
            conn = store.connect(self.path, readonly=True)
            self._local.ro = conn
        return conn

    def write(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "rw", None)
        if conn is None:
            conn = store.connect(self.path)
            self._local.rw = conn
        return conn
