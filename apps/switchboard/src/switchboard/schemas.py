"""Every service's schema in one place: the CLI opens the store with all of them (`open_all`),
and `doctor` compares what a database has with what the code knows."""

from __future__ import annotations

import os
import sqlite3

import store
from dashd.migrations import MIGRATIONS as DASHD
from gated.migrations import MIGRATIONS as GATED
from onbod.migrations import MIGRATIONS as ONBOD
from store.migrations import MIGRATIONS as CORE
from timed.migrations import MIGRATIONS as TIMED

SCHEMAS: dict[str, list[store.Migration]] = {
    "gated": GATED,
    "timed": TIMED,
    "onbod": ONBOD,
    "dashd": DASHD,
}


def open_all(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """The store with the core schema and every service's brought up to date."""
    return store.open(path, SCHEMAS)


def expected_versions() -> dict[str, int]:
    """The schema version of the core and of each service that this code writes."""
    versions = {"store": len(CORE)}
    versions.update({name: len(m) for name, m in SCHEMAS.items()})
    return versions


def versions(conn: sqlite3.Connection) -> dict[str, int]:
    """The schema version the database has, of the core and of each service."""
    return {name: store.service_version(conn, name) for name in expected_versions()}
