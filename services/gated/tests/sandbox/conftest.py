"""Fixtures of the sandbox tests: real bubblewrap (skipped with the reason when it cannot run
here; SWITCHBOARD_REQUIRE_ALL=1 makes that a failure) and the gated loop harness."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from gated.sandbox import probe_bwrap

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "loop"))


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory outside /tmp (where deployments keep it, e.g. /var/lib): inside the
    sandbox /tmp is the agent's own tmpfs, so a db under /tmp would test the wrong thing."""
    path = Path(tempfile.mkdtemp(prefix="switchboard-sandbox-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def bwrap() -> str:
    probe = probe_bwrap("bwrap")
    if not probe.works:
        pytest.skip(f"bubblewrap cannot run here: {probe.reason}")
    return probe.path
