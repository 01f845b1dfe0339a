"""Core migrations on PostgreSQL: the same names and versions as on SQLite, the same schema
table by table, recorded once each, applied once by four processes starting together on an
empty database, and a database from newer code or with the wrong collation refused."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import store
from store.migrations import MIGRATIONS
from store.pg_migrations import PG_MIGRATIONS

if TYPE_CHECKING:
    from testkit.postgres import PostgresCluster

    from conftest import Workers

PG_TYPES = {"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision"}

PG_COLUMNS_SQL = """
SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity
FROM information_schema.columns WHERE table_schema = 'public'
ORDER BY table_name, ordinal_position
"""
PG_INDEXES_SQL = """
SELECT i.relname, t.relname, ix.indisunique, ix.indisprimary, ix.indpred IS NOT NULL,
       array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
             ORDER BY k.n)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace ns ON ns.oid = t.relnamespace
WHERE ns.nspname = 'public'
"""

Schema = dict[str, dict[str, Any]]


def default_text(value: str | None) -> str | None:
    """A column default as both spell it: `''::text` and `''` are the same default."""
    return None if value is None else re.sub(r"::[a-z ]+$", "", value)


def sqlite_schema(conn: sqlite3.Connection) -> Schema:
    """Per table: columns (name, type, not null, default), primary key, unique column sets,
    and the named indexes (columns, unique, partial)."""
    schema: Schema = {}
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for table in tables:
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        pk = tuple(r["name"] for r in sorted(info, key=lambda r: r["pk"]) if r["pk"])
        columns = [
            (r["name"], PG_TYPES[r["type"]], bool(r["notnull"] or r["pk"]), r["dflt_value"])
            for r in info
        ]
        uniques, named = set(), {}
        for idx in conn.execute(f"PRAGMA index_list({table})").fetchall():
            cols = tuple(r["name"] for r in conn.execute(f"PRAGMA index_info({idx['name']})"))
            if idx["origin"] == "c":
                named[idx["name"]] = (cols, bool(idx["unique"]), bool(idx["partial"]))
            elif idx["origin"] == "u":
                uniques.add(cols)
        schema[table] = {"columns": columns, "pk": pk, "unique": uniques, "indexes": named}
    return schema


def pg_schema(conn: store.Conn) -> Schema:
    schema: Schema = {}
    for table, name, data_type, nullable, default, identity in conn.execute(PG_COLUMNS_SQL):
        entry = schema.setdefault(table, {"columns": [], "pk": (), "unique": set(), "indexes": {}})
        default = None if identity == "YES" else default_text(default)
        entry["columns"].append((name, data_type, nullable == "NO", default))
    for index, table, unique, primary, partial, cols in conn.execute(PG_INDEXES_SQL):
        entry = schema[table]
        if primary:
            entry["pk"] = tuple(cols)
        elif index.endswith("_key"):
            entry["unique"].add(tuple(cols))
        else:
            entry["indexes"][index] = (tuple(cols), unique, partial)
    return schema


def test_every_migration_has_a_postgresql_form_of_the_same_name() -> None:
    assert [m.__name__ for m in PG_MIGRATIONS] == [m.__name__ for m in MIGRATIONS]


def test_the_postgresql_schema_is_the_sqlite_schema_table_by_table(
    tmp_path: Path, pg_migrated_url: str
) -> None:
    lite = store.open(tmp_path / "messages.db")
    pg = store.open_db(pg_migrated_url)
    try:
        want, have = sqlite_schema(lite), pg_schema(pg)
    finally:
        lite.close()
        pg.close()
    assert set(have) == set(want)
    for table in want:
        assert have[table] == want[table], table


def test_core_migrations_are_recorded_once_each_on_postgresql(pg_migrated_url: str) -> None:
    conn = store.open_db(pg_migrated_url)
    rows = conn.execute("SELECT service, version, name FROM migrations ORDER BY version")
    assert [tuple(r) for r in rows] == [
        ("store", i + 1, m.__name__) for i, m in enumerate(MIGRATIONS)
    ]
    assert store.service_version(conn, "store") == store.schema_version()
    conn.close()


def test_four_processes_migrating_an_empty_database_at_once_apply_each_once(
    pg_url: str, workers: Workers
) -> None:
    procs = workers.start_together([["migrate-core", pg_url] for _ in range(4)])
    outputs = [workers.finish(p).strip() for p in procs]
    assert outputs == [f"ok {store.schema_version()}"] * 4
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version, name FROM migrations ORDER BY version").fetchall()
    assert rows == [(i + 1, m.__name__) for i, m in enumerate(MIGRATIONS)]


def test_a_postgresql_schema_newer_than_the_code_is_refused_untouched(pg_migrated_url: str) -> None:
    with psycopg.connect(pg_migrated_url, autocommit=True) as raw:
        raw.execute(
            "INSERT INTO migrations VALUES ('store', 99, 'm099_future', '2030-01-01T00:00:00Z')"
        )
    with pytest.raises(store.SchemaTooNew, match="99"):
        store.open_db(pg_migrated_url)
    with psycopg.connect(pg_migrated_url) as raw:
        assert raw.execute("SELECT COUNT(*) FROM migrations").fetchone() == (len(MIGRATIONS) + 1,)


def test_a_database_without_the_c_collation_is_refused(pg_cluster: PostgresCluster) -> None:
    with pg_cluster.admin() as admin:
        admin.execute(
            "CREATE DATABASE icu_db TEMPLATE template0 ENCODING 'UTF8' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
        )
    try:
        with pytest.raises(store.UnsuitableDatabase, match="LOCALE 'C'"):
            store.open_db(pg_cluster.url("icu_db"))
        with psycopg.connect(pg_cluster.url("icu_db")) as raw:
            assert raw.execute("SELECT to_regclass('migrations')").fetchone() == (None,)
    finally:
        pg_cluster.drop_database("icu_db")
