"""Fixtures for the platform adapters' tests: `matrix_human.py` (put on sys.path here) plays
the person on a real Synapse (the `synapse` fixture of testkit.synapse_fixture)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
