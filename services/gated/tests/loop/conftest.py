"""Fixtures for the gateway loop tests: one real gated process per module on a temp db."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import store

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gated_loop_support import Gated, start_gated, stop_gated


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gated]:
    """One gated shared by a module's tests (each test uses its own chats and folders)."""
    db = tmp_path_factory.mktemp("gated") / "messages.db"
    store.open(db).close()
    g = start_gated(db, "--agent-timeout", "30", "--max-agents", "4")
    yield g
    assert stop_gated(g) == 0, g.log_text()


@pytest.fixture
def conn(gated: Gated) -> Iterator[sqlite3.Connection]:
    c = gated.conn()
    yield c
    c.close()
