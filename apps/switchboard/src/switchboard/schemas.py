"""Every service's schema in one place, for `init` and `doctor`."""

from __future__ import annotations

import sqlite3

import store
from store.migrations import MIGRATIONS as CORE
from store.migrator import Migration


def service_migrations() -> dict[str, list[Migration]]:
    """Each service's migration list, imported from its owner package."""
    from dashd.migrations import MIGRATIONS as DASHD
    from gated.migrations import MIGRATIONS as GATED
    from onbod.migrations import MIGRATIONS as ONBOD
    from timed.migrations import MIGRATIONS as TIMED

    return {"gated": GATED, "timed": TIMED, "onbod": ONBOD, "dashd": DASHD}


def expected_versions() -> dict[str, int]:
    versions = {"store": len(CORE)}
    versions.update({name: len(m) for name, m in service_migrations().items()})
    return versions


def migrate_all(conn: sqlite3.Connection) -> dict[str, int]:
    """Apply every service's migrations (core is applied by store.open)."""
    versions = {"store": store.service_version(conn, "store")}
    for name, migrations in service_migrations().items():
        versions[name] = store.migrate_service(conn, name, migrations)
    return versions
