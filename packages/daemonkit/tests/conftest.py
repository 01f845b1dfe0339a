"""Fixtures of the daemon kit's tests: a database file path under the test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "messages.db"
