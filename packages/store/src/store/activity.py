"""What the dashboard's charts count, over a recent window: messages in and out per hour, agent
runs per day (how many, how many failed, how long they took) and what each group's runs cost
per day. Each query starts at the first row of the window, found by a binary search on the
table's row id (rows are stored in time order), so it reads the window, not the table."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from store.clock import iso

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


@dataclass(frozen=True, slots=True)
class HourCount:
    hour: str  # '2026-12-03T08'
    received: int
    sent: int


def messages_per_hour(conn: sqlite3.Connection, since: datetime) -> list[HourCount]:
    """Messages stored since `since`, per UTC hour of their time: received and sent."""
    start = first_id_since(conn, "messages", since)
    rows = conn.execute(
        "SELECT substr(timestamp, 1, 13), SUM(is_from_me = 0), SUM(is_from_me = 1) "
        "FROM messages WHERE seq >= ? AND timestamp >= ? GROUP BY 1 ORDER BY 1",
        (start, iso(since)),
    ).fetchall()
    return [HourCount(str(r[0]), int(r[1]), int(r[2])) for r in rows]


@dataclass(frozen=True, slots=True)
class DayRuns:
    day: str  # '2026-12-03'
    runs: int
    failed: int  # ended other than ok (error, timeout, a limit, killed)
    median_s: float  # of the runs that ended
    max_s: float


def runs_per_day(conn: sqlite3.Connection, since: datetime) -> list[DayRuns]:
    """Agent runs started since `since`, per UTC day: counts and durations."""
    start = first_id_since(conn, "session_log", since)
    rows = conn.execute(
        "SELECT substr(started_at, 1, 10), result, "
        "(julianday(ended_at) - julianday(started_at)) * 86400.0 FROM session_log "
        "WHERE id >= ? AND started_at >= ? ORDER BY 1",
        (start, iso(since)),
    ).fetchall()
    found = []
    for day, runs in by_day(rows).items():
        median, longest = median_max([s for _, s in runs if s is not None])
        failed = sum(1 for r, _ in runs if r is not None and r != "ok")
        found.append(DayRuns(day, len(runs), failed, median, longest))
    return found


def by_day(rows: list[sqlite3.Row]) -> dict[str, list[tuple[object, float | None]]]:
    """(day, a, b) rows → day: [(a, b), ...] in row order."""
    days: dict[str, list[tuple[object, float | None]]] = {}
    for day, *rest in rows:
        days.setdefault(str(day), []).append((rest[0], rest[-1]))
    return days


def median_max(values: list[float]) -> tuple[float, float]:
    """The median and the largest of `values` (0, 0 for none)."""
    ordered = sorted(values)
    return (ordered[len(ordered) // 2], ordered[-1]) if ordered else (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class DayCost:
    day: str
    folder: str
    cost_usd: float


def cost_per_day(conn: sqlite3.Connection, since: datetime) -> list[DayCost]:
    """What each folder's runs that started since `since` reported they cost, per UTC day."""
    start = first_id_since(conn, "session_log", since)
    rows = conn.execute(
        "SELECT substr(started_at, 1, 10), group_folder, SUM(cost_usd) FROM session_log "
        "WHERE id >= ? AND started_at >= ? AND cost_usd IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
        (start, iso(since)),
    ).fetchall()
    return [DayCost(str(r[0]), str(r[1]), float(r[2])) for r in rows]


@dataclass(frozen=True, slots=True)
class DayLateness:
    day: str
    fired: int
    median_s: float  # fired_at - slot
    max_s: float


def task_lateness_per_day(conn: sqlite3.Connection, since: datetime) -> list[DayLateness]:
    """How late timed fired tasks since `since`, per UTC day ([] before timed's schema)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'task_runs'").fetchone():
        return []
    start = first_id_since(conn, "task_runs", since)
    rows = conn.execute(
        "SELECT substr(fired_at, 1, 10), status, "
        "(julianday(fired_at) - julianday(slot)) * 86400.0 "
        "FROM task_runs WHERE id >= ? AND fired_at >= ? AND status = 'fired' ORDER BY 1",
        (start, iso(since)),
    ).fetchall()
    found = []
    for day, fired in by_day(rows).items():
        median, worst = median_max([max(0.0, float(late or 0.0)) for _, late in fired])
        found.append(DayLateness(day, len(fired), median, worst))
    return found
