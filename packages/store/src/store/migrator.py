"""Versioned migrations: the core list on `PRAGMA user_version` (SQLite) or its rows in
`migrations` (PostgreSQL, which has no user_version), services on `migrations` on both.

Both runners open a transaction (`BEGIN IMMEDIATE`; on PostgreSQL `BEGIN` and an advisory
lock), re-read the version, apply what is pending and commit, so several processes opening a
new database at once apply each migration exactly once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from store.clock import now_iso
from store.connection import tx
from store.dbapi import Conn, is_postgres
from store.errors import SchemaTooNew
from store.pgnames import MIGRATION_LOCK

log = logging.getLogger(__name__)

# A migration takes the connection inside the runner's transaction: an SQLite form takes the
# sqlite3 connection, a PostgreSQL form (store.pg_migrations) a `Conn`; the runners take
# either list (AnyMigration), the one that fits the connection's dialect.
Migration = Callable[[sqlite3.Connection], None]
PgMigration = Callable[[Conn], None]
AnyMigration = Callable[[Any], None]
# Service name -> its migration list, as each service's `migrations.MIGRATIONS`.
Schemas = Mapping[str, Sequence[AnyMigration]]
CORE_SERVICE = "store"


def _user_version(conn: Conn) -> int:
    """The applied core version: `PRAGMA user_version`, or on PostgreSQL the highest core row
    of `migrations` (0 before m001 made the table)."""
    if not is_postgres(conn):
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    if conn.execute(MIGRATIONS_TABLE_PG_SQL).fetchone() is None:
        return 0
    return service_version(conn, CORE_SERVICE)


# Whether `migrations` exists yet, read from pg_class with this statement's snapshot (not
# to_regclass: its catalog cache may still hold "no such table" from before the lock wait).
MIGRATIONS_TABLE_PG_SQL = """
SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = 'migrations' AND n.nspname = current_schema()
"""


def _lock_migrations(conn: Conn) -> None:
    """On PostgreSQL, wait for any other runner's transaction (BEGIN IMMEDIATE does it on
    SQLite): the version re-read after this sees what that runner committed."""
    if is_postgres(conn):
        conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))


def migrate_core(conn: Conn, migrations: Sequence[AnyMigration]) -> int:
    """Apply pending core migrations; return the resulting version."""
    known = len(migrations)
    if _user_version(conn) > known:
        raise SchemaTooNew(
            f"database schema version {_user_version(conn)} is newer than this code "
            f"(knows {known}); upgrade Switchboard before opening this database"
        )
    if _user_version(conn) == known:
        return known
    with tx(conn):
        _lock_migrations(conn)
        current = _user_version(conn)
        if current > known:
            raise SchemaTooNew(f"database schema version {current} is newer than this code")
        for version in range(current + 1, known + 1):
            fn = migrations[version - 1]
            log.info("applying core migration version=%d name=%s", version, fn.__name__)
            fn(conn)
            conn.execute(
                "INSERT INTO migrations (service, version, name, applied_at) VALUES (?, ?, ?, ?)",
                (CORE_SERVICE, version, fn.__name__, now_iso()),
            )
        if not is_postgres(conn):
            conn.execute(f"PRAGMA user_version = {known}")
    return known


def service_version(conn: Conn, service: str) -> int:
    """The highest applied migration version of a service (0 when none)."""
    row = conn.execute(
        "SELECT COALESCE(MAX(version), 0) FROM migrations WHERE service = ?", (service,)
    ).fetchone()
    return int(row[0])


def migrate_service(conn: Conn, service: str, migrations: Sequence[AnyMigration]) -> int:
    """Apply a service's pending migrations, recorded in the shared `migrations` table."""
    known = len(migrations)
    if service_version(conn, service) > known:
        raise SchemaTooNew(
            f"{service} schema version {service_version(conn, service)} is newer than this "
            f"code (knows {known}); upgrade {service} before running it on this database"
        )
    if service_version(conn, service) == known:
        return known
    with tx(conn):
        _lock_migrations(conn)
        current = service_version(conn, service)
        if current > known:
            raise SchemaTooNew(f"{service} schema version {current} is newer than this code")
        for version in range(current + 1, known + 1):
            fn = migrations[version - 1]
            log.info(
                "applying migration service=%s version=%d name=%s", service, version, fn.__name__
            )
            fn(conn)
            conn.execute(
                "INSERT INTO migrations (service, version, name, applied_at) VALUES (?, ?, ?, ?)",
                (service, version, fn.__name__, now_iso()),
            )
    return known


def migrate_services(conn: Conn, schemas: Schemas) -> dict[str, int]:
    """Apply each service's pending migrations, in the mapping's order; their versions."""
    return {service: migrate_service(conn, service, m) for service, m in schemas.items()}
