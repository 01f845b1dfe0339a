"""timed's Prometheus metrics, read from `task_runs` at scrape time (exact across restarts):
slots handled by status and how late the fired ones were. Served with `--metrics-listen`."""

from __future__ import annotations

import sqlite3
from typing import Final, get_args

from daemonkit.tally import DbCollector, FinalRows, bounded
from store.sqlparts import SECONDS_SQL

from timed.models import RunStatus

STATUSES: Final = get_args(RunStatus)
LATENESS_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# Parameters: after (the last id counted), limit. Slots handled past an id (a row is written
# once, in the transaction that handles its slot).
TASK_RUNS_SQL: Final = f"""
SELECT id, status, {SECONDS_SQL.format(start="slot", end="fired_at")} AS late FROM task_runs
WHERE id > :after ORDER BY id LIMIT :limit
"""


class TimedMetrics(DbCollector):
    """What timed exposes."""

    def __init__(self, db: str) -> None:
        super().__init__(db)
        self.fires = self.counter(
            "switchboard_task_fires",
            "Task slots handled, by status (fired, missed, skipped)",
            ["status"],
        )
        self.lateness = self.histogram(
            "switchboard_task_lateness_seconds",
            "Seconds from a fired slot's time to its firing",
            LATENESS_BUCKETS,
        )
        for status in STATUSES:
            self.fires.declare(status)
        self.tally(FinalRows(TASK_RUNS_SQL), self._handled)

    def _handled(self, row: sqlite3.Row) -> None:
        status = bounded(row["status"], STATUSES)
        self.fires.inc(status)
        if status == "fired" and row["late"] is not None:
            self.lateness.observe(max(0.0, row["late"]))
