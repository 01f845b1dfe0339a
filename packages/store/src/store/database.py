"""`open()`: connect to messages.db and bring the core schema up to date."""

from __future__ import annotations

import os
import sqlite3

from store.connection import connect
from store.migrations import MIGRATIONS
from store.migrator import migrate_core


def open(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Connect with the project's pragmas and apply pending core migrations."""
    conn = connect(path)
    try:
        migrate_core(conn, MIGRATIONS)
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version() -> int:
    """The core schema version this code writes."""
    return len(MIGRATIONS)
