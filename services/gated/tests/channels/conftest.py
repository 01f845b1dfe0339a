"""Fixtures for gated's channel tests: a migrated db file, a config, the API under a TestClient,
and a real stand-in adapter process (records /send bodies; can answer 500/400 or be down)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import store
from fastapi.testclient import TestClient
from gated.channels import create_app
from gated.config import Config
from gated.migrations import MIGRATIONS

# The test modules import their helpers from the module beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gated_channels_support import make_config
from testkit import StandinAdapter


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "messages.db"
    conn = store.open(path)
    store.migrate_service(conn, "gated", MIGRATIONS)
    conn.close()
    return path


@pytest.fixture
def conn(db: Path) -> Iterator[Any]:
    c = store.connect(db)
    yield c
    c.close()


@pytest.fixture
def config(db: Path) -> Config:
    return make_config(db)


@pytest.fixture
def client(config: Config) -> Iterator[TestClient]:
    with TestClient(create_app(config), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def adapter(tmp_path: Path) -> Iterator[StandinAdapter]:
    a = StandinAdapter(tmp_path / "sends.jsonl")
    a.start()
    yield a
    a.stop()
