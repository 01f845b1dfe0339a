"""Schema owned by gated, applied with `store.migrate_service(conn, "gated", MIGRATIONS)`."""

from __future__ import annotations

from store.migrator import Migration

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append
