"""Schema owned by timed, applied with `store.migrate_service(conn, "timed", MIGRATIONS)`."""

from __future__ import annotations

from store.migrator import Migration

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append
