"""Schema owned by onbod, applied with `store.migrate_service(conn, "onbod", MIGRATIONS)`."""

from __future__ import annotations

from store.migrator import Migration

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append
