"""`open()`: the one way a process opens messages.db for writing and brings the schemas it
uses up to date (the core one, then each service's it names). A read-only `connect` never
migrates."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from store.connection import connect
from store.errors import SchemaTooNew
from store.migrations import MIGRATIONS
from store.migrator import Schemas, migrate_core, migrate_services


def _refuse_newer_schema(path: Path) -> None:
    """Raise SchemaTooNew before connect() sets any pragma that could write to the file.

    connect() switches the file to WAL, which rewrites the header of a rollback-journal file;
    a database from newer code must be left byte-for-byte as it was.
    """
    if not path.is_file():
        return
    probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        version = int(probe.execute("PRAGMA user_version").fetchone()[0])
    finally:
        probe.close()
    if version > len(MIGRATIONS):
        raise SchemaTooNew(
            f"database schema version {version} is newer than this code "
            f"(knows {len(MIGRATIONS)}); upgrade Switchboard before opening {path}"
        )


def open(path: str | os.PathLike[str], schemas: Schemas | None = None) -> sqlite3.Connection:
    """Connect with the project's pragmas and apply pending core migrations, then those of
    each service in `schemas` (`{"gated": gated.migrations.MIGRATIONS, ...}`, in order).

    A database migrated by newer code raises SchemaTooNew and is not written to.
    """
    _refuse_newer_schema(Path(path))
    conn = connect(path)
    try:
        migrate_core(conn, MIGRATIONS)
        migrate_services(conn, schemas or {})
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version() -> int:
    """The core schema version this code writes."""
    return len(MIGRATIONS)
