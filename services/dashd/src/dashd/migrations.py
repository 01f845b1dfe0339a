"""Schema owned by dashd, applied with `store.migrate_service(conn, "dashd", MIGRATIONS)`."""

from __future__ import annotations

from store.migrator import Migration

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append
