"""A tiny daemon for the kit's tests: a Service that echoes the message cursor, run by the
shared Runner until SIGTERM (`python daemon_worker.py DB`)."""

from __future__ import annotations

import sqlite3
import sys

import store
from daemonkit.logs import setup_logging
from daemonkit.runner import Runner


class EchoCursorService:
    """A minimal daemon: each step copies the latest message seq into router_state."""

    name = "testd"
    version = "0.0.1"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.steps = 0

    def start(self) -> None:
        store.set_state(self.conn, "testd:started", "yes")

    def step(self, now: object) -> float | None:
        self.steps += 1
        seq = store.latest_seq(self.conn)
        if store.get_state(self.conn, "testd:seen") != str(seq):
            store.set_state(self.conn, "testd:seen", str(seq))
        return None

    def stop(self) -> None:
        store.set_state(self.conn, "testd:stopped", "yes")

    def info(self) -> dict[str, object]:
        return {"steps": self.steps}


def daemon(path: str) -> None:
    """Run EchoCursorService under the shared Runner until SIGTERM."""
    setup_logging("INFO", "json")
    conn = store.open(path)
    raise SystemExit(Runner(EchoCursorService(conn), conn).run())


if __name__ == "__main__":
    daemon(sys.argv[1])
