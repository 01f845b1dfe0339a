"""Fixtures for the store's tests: a real database per test (a file; or, for a test marked
`testkit.postgres_fixture.BOTH_BACKENDS`, a file and then a fresh PostgreSQL database) and
real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import store

WORKER = Path(__file__).with_name("store_worker.py")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "messages.db"


@pytest.fixture
def db_target(backend: str, db_path: Path, request: pytest.FixtureRequest) -> str:
    """Where the test's `db` is: the file path, or the URL of a fresh PostgreSQL database
    with the core schema (for worker processes that open the same database)."""
    return str(db_path) if backend == "sqlite" else str(request.getfixturevalue("pg_migrated_url"))


@pytest.fixture
def db(db_target: str) -> Iterator[store.Conn]:
    """A freshly migrated store: a real file, or a fresh PostgreSQL database."""
    conn = store.open_db(db_target)
    yield conn
    conn.close()


@pytest.fixture
def empty_db_target(backend: str, db_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a new, empty database is: a file path (no file yet) or a PostgreSQL URL."""
    return str(db_path) if backend == "sqlite" else str(request.getfixturevalue("pg_url"))


class Workers:
    """Starts `store_worker.py` subprocesses and collects what they print."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.procs.append(proc)
        return proc

    def start_together(self, args_list: list[list[str]]) -> list[subprocess.Popen[str]]:
        """Start workers that each print 'ready' and block; release them all at once."""
        procs = [self.start(*args) for args in args_list]
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != "ready":
                _, err = p.communicate(timeout=30)
                raise AssertionError(f"worker did not get ready: {line!r} {err}")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        return procs

    @staticmethod
    def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
        """Wait for a worker; assert it exited 0 and return its remaining stdout."""
        if proc.stdin is not None:
            if not proc.stdin.closed:
                proc.stdin.close()
            proc.stdin = None  # communicate() must not flush a closed pipe
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"worker exited {proc.returncode}: {err[-3000:]}"
        assert "Traceback" not in err, err[-3000:]
        # The store retries SQLITE_BUSY that SQLite raises without waiting (two connections
        # switching a brand-new file to WAL at once) and logs each retry; nothing else may
        # mention a lock.
        unexpected = [
            line
            for line in err.splitlines()
            if "locked" in line and not line.startswith("database busy, retrying")
        ]
        assert not unexpected, err[-3000:]
        return out

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def workers() -> Iterator[Workers]:
    w = Workers()
    yield w
    w.kill_all()
