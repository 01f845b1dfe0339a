"""`open()`: the one way a process opens messages.db for writing and brings the schemas it
uses up to date (the core one, then each service's it names); `open_db()` the same for either
backend (a path or a PostgreSQL URL). A read-only `connect` never migrates."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Final

from store.connection import connect, connect_db
from store.dbapi import Conn
from store.dburl import DbTarget, SqliteTarget, parse_db
from store.errors import SchemaTooNew, UnsuitableDatabase
from store.migrations import MIGRATIONS
from store.migrator import Schemas, migrate_core, migrate_services
from store.pg_migrations import PG_MIGRATIONS

# Text must compare byte by byte (as SQLite's BINARY does: cursors, ISO times, prefixes) and be
# UTF-8, so a PostgreSQL database needs the C collation (or C.UTF-8) and UTF8 encoding.
C_COLLATIONS: Final = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8"})
DATABASE_SQL: Final = """
SELECT pg_encoding_to_char(encoding), datcollate, datlocprovider
FROM pg_database WHERE datname = current_database()
"""


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


def open_db(target: DbTarget | str, schemas: Schemas | None = None) -> Conn:
    """`open` for either backend: an SQLite path as `open` does it; a PostgreSQL URL is
    connected, checked (UTF8, C collation: else UnsuitableDatabase) and migrated under an
    advisory lock. Services have no PostgreSQL schemas yet (issue 20): `schemas` must be
    empty there."""
    if isinstance(target, str):
        target = parse_db(target)
    if isinstance(target, SqliteTarget):
        return open(target.path, schemas)
    if schemas:
        raise ValueError(f"no PostgreSQL form of the service schemas {sorted(schemas)} yet")
    conn = connect_db(target)
    try:
        check_postgres(conn, target.shown())
        migrate_core(conn, PG_MIGRATIONS)
    except BaseException:
        conn.close()
        raise
    return conn


def check_postgres(conn: Conn, shown: str) -> None:
    """UnsuitableDatabase unless the database is UTF8 with the C collation (libc provider)."""
    encoding, collate, provider = conn.execute(DATABASE_SQL).fetchone()
    if encoding == "UTF8" and collate in C_COLLATIONS and provider == "c":
        return
    raise UnsuitableDatabase(
        f"{shown}: encoding {encoding}, collation {collate} (provider {provider}); the store "
        "needs UTF8 and the C collation: CREATE DATABASE <name> TEMPLATE template0 "
        "ENCODING 'UTF8' LOCALE 'C'"
    )


def schema_version() -> int:
    """The core schema version this code writes."""
    return len(MIGRATIONS)
