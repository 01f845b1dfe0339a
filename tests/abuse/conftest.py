"""Abuse-suite fixtures: one four-daemon system of its own for the whole directory (fuzzing
registers channels and posts junk, which must not leak into the shared `system`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HARNESS = Path(__file__).parents[1] / "conftest.py"


def _harness() -> Any:
    """The root harness module (tests/conftest.py), loaded for its System class."""
    spec = importlib.util.spec_from_file_location("switchboard_abuse_harness", HARNESS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="package")
def abuse_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """gated, timed, onbod and dashd on a database only the abuse tests use."""
    harness = _harness()
    system = harness.System(tmp_path_factory.mktemp("abuse"))
    try:
        system.start()
        yield system
    finally:
        harness._teardown(system)


@pytest.fixture(scope="package")
def abuse_channel(abuse_system: Any) -> Any:
    """A registered stand-in adapter, channel `abuse` (jids `abuse:…`)."""
    return abuse_system.adapter("abuse")
