"""Fixtures for dashd's tests; the helpers live in dashd_harness.py (put on sys.path here,
since tests run with --import-mode=importlib)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import store
from dashd.users import add_user
from dashd_harness import PASSWORD, Server, open_db, signed_in, start_dashd


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dashd")


@pytest.fixture(scope="module")
def db(module_tmp: Path) -> Path:
    path = module_tmp / "messages.db"
    conn = open_db(path)
    add_user(conn, "admin", PASSWORD)
    conn.close()
    return path


@pytest.fixture(scope="module")
def server(db: Path, module_tmp: Path) -> Iterator[Server]:
    srv = start_dashd(db, module_tmp)
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def admin(site: Server) -> Iterator[httpx.Client]:
    """One signed-in operator session on the module's own `site` server, shared by the
    module's tests."""
    client = signed_in(site, "admin")
    yield client
    client.close()


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = store.connect(db)
    yield c
    c.close()
