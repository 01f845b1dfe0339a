"""Fixtures of the daemon kit's tests: a database file under the test's tmp_path."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "messages.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A freshly migrated store on a real file."""
    conn = store.open(db_path)
    yield conn
    conn.close()
