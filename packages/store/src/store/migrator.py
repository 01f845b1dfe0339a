"""Versioned migrations: the core list on `PRAGMA user_version`, services on `migrations`.

Both runners take `BEGIN IMMEDIATE`, re-read the version, apply what is pending and commit, so
several processes opening a new file at once apply each migration exactly once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence

from store.clock import now_iso
from store.connection import tx
from store.errors import SchemaTooNew

log = logging.getLogger(__name__)

Migration = Callable[[sqlite3.Connection], None]
# Service name -> its migration list, as each service's `migrations.MIGRATIONS`.
Schemas = Mapping[str, Sequence[Migration]]
CORE_SERVICE = "store"


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate_core(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
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
        conn.execute(f"PRAGMA user_version = {known}")
    return known


def service_version(conn: sqlite3.Connection, service: str) -> int:
    """The highest applied migration version of a service (0 when none)."""
    row = conn.execute(
        "SELECT COALESCE(MAX(version), 0) FROM migrations WHERE service = ?", (service,)
    ).fetchone()
    return int(row[0])


def migrate_service(conn: sqlite3.Connection, service: str, migrations: Sequence[Migration]) -> int:
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


def migrate_services(conn: sqlite3.Connection, schemas: Schemas) -> dict[str, int]:
    """Apply each service's pending migrations, in the mapping's order; their versions."""
    return {service: migrate_service(conn, service, m) for service, m in schemas.items()}
