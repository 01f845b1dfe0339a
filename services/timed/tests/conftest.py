"""Fixtures for timed's tests: a real db file with a registered chat, and real `timed`
processes (started as `python -m timed.main`, waited for by their heartbeat)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from timed.migrations import MIGRATIONS

sys.path.insert(0, str(Path(__file__).parent))

from timed_harness import StartTimed, wait_for


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "messages.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = store.open(db_path)
    store.migrate_service(c, "timed", MIGRATIONS)
    store.register_group(c, "web:demo", "demo")
    yield c
    c.close()


@pytest.fixture
def start_timed(db_path: Path, conn: sqlite3.Connection, tmp_path: Path) -> Iterator[StartTimed]:
    """Start a timed process on the test db; every one still running is stopped at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"timed-{len(procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "timed.main", "--db", str(db_path), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        wait_for(
            lambda: (
                proc.poll() is not None
                or conn.execute(
                    "SELECT 1 FROM daemons WHERE name = 'timed' AND pid = ?", (proc.pid,)
                ).fetchone()
            )
        )
        assert proc.poll() is None, (tmp_path / f"timed-{len(procs) - 1}.log").read_text()
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
