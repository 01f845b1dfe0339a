"""The throw-away PostgreSQL cluster: it runs as an unprivileged user, listens on 127.0.0.1 and
a socket in its own directory only, and each test's database is its own."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from testkit.postgres import PostgresCluster


def test_the_server_runs_unprivileged_on_loopback_and_its_own_socket(
    pg_cluster: PostgresCluster,
) -> None:
    with pg_cluster.admin() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings "
                "WHERE name IN ('listen_addresses', 'unix_socket_directories', 'port')"
            ).fetchall()
        )
    assert settings == {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(pg_cluster.root),
        "port": str(pg_cluster.port),
    }
    postmaster = int((pg_cluster.data / "postmaster.pid").read_text().split()[0])
    assert Path(f"/proc/{postmaster}").stat().st_uid != 0
    if os.geteuid() != 0:
        assert Path(f"/proc/{postmaster}").stat().st_uid == os.geteuid()


def test_each_test_gets_a_fresh_database_of_its_own(
    pg_cluster: PostgresCluster, pg_url: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (x int)")
    other = pg_cluster.create_database()
    with psycopg.connect(other) as conn:
        assert conn.execute("SELECT to_regclass('mine')").fetchone() == (None,)
    pg_cluster.drop_database(other.rsplit("/", 1)[1])


def test_the_password_is_required_over_tcp(pg_cluster: PostgresCluster) -> None:
    wrong = pg_cluster.url().replace(pg_cluster.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong).close()
