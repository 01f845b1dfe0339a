"""Counting egress attempts: per (folder, host, verdict) in gated's memory, added to the
`egress_counts` table in batches (`flush`, from the gateway's step and at stop); and the query
that reads them back (`switchboard status`)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from typing import Literal

import store
from store.clock import now_iso

log = logging.getLogger(__name__)

Verdict = Literal["allowed", "denied"]
CountKey = tuple[str, str, Verdict]  # (folder, host, verdict)

# Parameters: folder, host, verdict, n (attempts since the last flush), last_at.
UPSERT_SQL = """
INSERT INTO egress_counts (folder, host, verdict, n, last_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (folder, host, verdict)
DO UPDATE SET n = n + excluded.n, last_at = max(last_at, excluded.last_at)
"""


@dataclass(frozen=True, slots=True)
class EgressCount:
    """One row of `egress_counts`."""

    folder: str
    host: str
    verdict: Verdict
    n: int
    last_at: str


class EgressCounter:
    """Attempts counted since the last flush; safe to add to from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[CountKey, tuple[int, str]] = {}

    def add(self, folder: str, host: str, verdict: Verdict) -> None:
        with self._lock:
            n, _ = self._pending.get((folder, host, verdict), (0, ""))
            self._pending[(folder, host, verdict)] = (n + 1, now_iso())

    def pending(self) -> int:
        """Attempts counted and not written yet."""
        with self._lock:
            return sum(n for n, _ in self._pending.values())

    def flush(self, conn: sqlite3.Connection) -> int:
        """Add what was counted to the table in one short transaction; how many attempts.
        When the write fails, the counts are kept for the next flush and the error raised."""
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return 0
        try:
            with store.tx(conn):
                conn.executemany(
                    UPSERT_SQL, [(*key, n, last_at) for key, (n, last_at) in taken.items()]
                )
        except BaseException:
            with self._lock:
                for key, (n, last_at) in taken.items():
                    had, at = self._pending.get(key, (0, ""))
                    self._pending[key] = (had + n, max(at, last_at))
            raise
        return sum(n for n, _ in taken.values())


def egress_counts(conn: sqlite3.Connection, folder: str | None = None) -> list[EgressCount]:
    """The counted attempts (of one folder, or all), by folder, verdict and most attempts."""
    rows = conn.execute(
        "SELECT folder, host, verdict, n, last_at FROM egress_counts "
        "WHERE ? IS NULL OR folder = ? ORDER BY folder, verdict, n DESC, host",
        (folder, folder),
    ).fetchall()
    return [EgressCount(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def totals_by_verdict(conn: sqlite3.Connection) -> dict[str, int]:
    """Attempts written so far, all folders and hosts, by verdict (a small table: one row per
    folder, host and verdict, the hosts capped per run)."""
    rows = conn.execute("SELECT verdict, SUM(n) FROM egress_counts GROUP BY verdict")
    return {verdict: int(n) for verdict, n in rows}
