"""Fixtures for onbod's tests: a real database file and real onbod processes."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import store
from onbod.main import SCHEMAS

sys.path.insert(0, str(Path(__file__).parent))

from onbod_harness import Onbod


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "messages.db"
    store.open(path, SCHEMAS).close()
    return path


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = store.connect(db)
    yield c
    c.close()


@pytest.fixture
def onbod(db: Path) -> Iterator[Callable[..., Onbod]]:
    started: list[Onbod] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Onbod:
        daemon = Onbod(db, *args, env=env).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
