"""What the dashboard's charts count, over a recent window: messages in and out per hour, agent
runs per day (how many, how many failed, how long they took, what they cost) and how late tasks
fired. The queries read rows past an id (dashd.chart_tallies keeps the sums and reads only the
rows new since its last read); the window's first id is found by a binary search on the table's
row id (rows are stored in time order), so a first read is the window, not the table."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Final

from store.clock import iso
from store.sqlparts import SECONDS_SQL

# table -> its id column and the time column stored in id order (text: ISO-8601 UTC).
TIMED_TABLES: Final = {
    "messages": ("seq", "timestamp"),
    "session_log": ("id", "started_at"),
    "task_runs": ("id", "fired_at"),
    "audit_log": ("id", "at"),  # store.audit's --since window
}


def first_id_since(conn: sqlite3.Connection, table: str, since: datetime) -> int:
    """The smallest id of `table` whose time is at or after `since` (one past the last id when
    none is): O(log n) lookups by id. A row whose own time is out of order (a channel's clock)
    is counted by where it was stored."""
    id_col, time_col = TIMED_TABLES[table]
    span = f"SELECT MIN({id_col}), MAX({id_col}) FROM {table}"  # names from TIMED_TABLES only
    first, last = conn.execute(span).fetchone()
    if first is None:
        return 1
    at = (
        f"SELECT {id_col}, {time_col} FROM {table} "  # names from TIMED_TABLES only
        f"WHERE {id_col} >= ? ORDER BY {id_col} LIMIT 1"
    )
    lo, hi, bound = int(first), int(last) + 1, iso(since)
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute(at, (mid,)).fetchone()
        if row is None or row[1] >= bound:
            hi = mid  # ids in [mid, row's id) do not exist: mid is as good a bound
        else:
            lo = int(row[0]) + 1
    return lo


# Parameters: after. Messages past a seq, per UTC hour of their own time ('2026-12-03T08'):
# received, sent, rows and the highest seq (every message is final once stored).
HOURLY_MESSAGES_SQL: Final = """
SELECT substr(timestamp, 1, 13) AS hour, SUM(is_from_me = 0) AS received,
       SUM(is_from_me = 1) AS sent, COUNT(*) AS n, MAX(seq) AS top
FROM messages WHERE seq > :after GROUP BY hour
"""
# Parameters: after, limit. Agent runs that ended, past an id: the UTC day they started, the
# result, the seconds they took, the folder and what they reported they cost.
ENDED_RUNS_SQL: Final = f"""
SELECT id, substr(started_at, 1, 10) AS day, result, group_folder, cost_usd,
       {SECONDS_SQL.format(start="started_at", end="ended_at")} AS took
FROM session_log WHERE id > :after AND ended_at IS NOT NULL ORDER BY id LIMIT :limit
"""
# Parameters: after. The lowest run past an id still going (served by session_log_running).
RUNNING_SQL: Final = "SELECT MIN(id) FROM session_log WHERE id > :after AND ended_at IS NULL"
# Parameters: after, limit. Tasks timed fired, past a task_runs id: the UTC day they fired and
# how many seconds after their slot (a task_runs row is final once written).
FIRED_TASKS_SQL: Final = f"""
SELECT id, substr(fired_at, 1, 10) AS day,
       {SECONDS_SQL.format(start="slot", end="fired_at")} AS late
FROM task_runs WHERE id > :after AND status = 'fired' ORDER BY id LIMIT :limit
"""


def has_task_runs(conn: sqlite3.Connection) -> bool:
    """Whether timed's schema (its task_runs) is in the database yet."""
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'task_runs'").fetchone() is not None
    )


def median_max(values: list[float]) -> tuple[float, float]:
    """The median and the largest of `values` (0, 0 for none)."""
    ordered = sorted(values)
    return (ordered[len(ordered) // 2], ordered[-1]) if ordered else (0.0, 0.0)
