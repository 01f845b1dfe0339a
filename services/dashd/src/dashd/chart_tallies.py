"""The charts' figures kept in dashd's memory and brought up to date on each request from only
the rows new since the last one (daemonkit.tally: each message, ended run and fired task is
counted once), so the page costs the same on a database of a million messages as on an empty
one. The first request after a start reads the charts' windows once. Figures outside a window
are dropped as time moves on; a row deleted later (a chat removed) stays counted until dashd
restarts."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from daemonkit.tally import FinalRows, GroupedRows
from store import activity

HOURS: Final = 48  # the messages chart: the last HOURS UTC hours
DAYS: Final = 30  # the others: the last DAYS UTC days


@dataclass(slots=True)
class DayFigures:
    """One UTC day of runs or task firings: counts, durations, cost per folder."""

    count: int = 0  # runs, or firings
    failed: int = 0  # runs that ended other than ok (error, timeout, a limit, killed)
    seconds: list[float] = field(default_factory=list)  # run durations, or task lateness
    cost: dict[str, float] = field(default_factory=dict)  # folder -> US$ reported


@dataclass(frozen=True, slots=True)
class Figures:
    """What the charts page draws: per hour (received, sent); per day runs and lateness;
    cost per folder over the days."""

    per_hour: dict[str, tuple[int, int]]
    runs: dict[str, DayFigures]
    lateness: dict[str, DayFigures]
    cost: dict[str, float]


class ChartTallies:
    """The running sums of one dashd; `figures()` reads what is new and returns a copy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._messages = GroupedRows(activity.HOURLY_MESSAGES_SQL)
        self._runs = FinalRows(activity.ENDED_RUNS_SQL, activity.RUNNING_SQL)
        self._tasks = FinalRows(activity.FIRED_TASKS_SQL)
        self._has_task_runs = False  # timed's table, looked for until it is there
        self._hours: dict[str, list[int]] = {}
        self._run_days: dict[str, DayFigures] = {}
        self._task_days: dict[str, DayFigures] = {}

    def figures(self, conn: sqlite3.Connection, hours: list[str], days: list[str]) -> Figures:
        """The figures of `hours` ('2026-12-03T08', oldest first) and `days` ('2026-12-03'),
        after reading the rows stored since the last call."""
        with self._lock:
            if not self._started:
                self._start(conn, hours[0], days[0])
            self._messages.read(conn, self._fold_messages)
            self._runs.read(conn, self._fold_run)
            if self._task_runs_exist(conn):
                self._tasks.read(conn, self._fold_task)
            _drop_before(self._hours, hours[0])
            _drop_before(self._run_days, days[0])
            _drop_before(self._task_days, days[0])
            cost: dict[str, float] = {}
            for day in days:
                for folder, usd in self._run_days.get(day, DayFigures()).cost.items():
                    cost[folder] = cost.get(folder, 0.0) + usd
            return Figures(
                per_hour={h: (v[0], v[1]) for h, v in self._hours.items() if h in hours},
                runs={d: _copy(f) for d, f in self._run_days.items() if d in days},
                lateness={d: _copy(f) for d, f in self._task_days.items() if d in days},
                cost=cost,
            )

    def _start(self, conn: sqlite3.Connection, first_hour: str, first_day: str) -> None:
        """Begin each tally at its window's first row instead of the table's."""
        since_hours = datetime.fromisoformat(first_hour + ":00:00+00:00")
        since_days = datetime.fromisoformat(first_day + "T00:00:00+00:00")
        self._messages.frontier = activity.first_id_since(conn, "messages", since_hours) - 1
        self._runs.frontier = activity.first_id_since(conn, "session_log", since_days) - 1
        if self._task_runs_exist(conn):
            self._tasks.frontier = activity.first_id_since(conn, "task_runs", since_days) - 1
        self._started = True

    def _task_runs_exist(self, conn: sqlite3.Connection) -> bool:
        """Whether timed's task_runs is there (a table once made stays: asked until it is)."""
        self._has_task_runs = self._has_task_runs or activity.has_task_runs(conn)
        return self._has_task_runs

    def _fold_messages(self, row: sqlite3.Row) -> None:
        sums = self._hours.setdefault(str(row["hour"]), [0, 0])
        sums[0] += int(row["received"])
        sums[1] += int(row["sent"])

    def _fold_run(self, row: sqlite3.Row) -> None:
        day = self._run_days.setdefault(str(row["day"]), DayFigures())
        day.count += 1
        day.failed += row["result"] != "ok"
        if row["took"] is not None:
            day.seconds.append(max(0.0, float(row["took"])))
        if row["cost_usd"] is not None:
            folder = str(row["group_folder"])
            day.cost[folder] = day.cost.get(folder, 0.0) + float(row["cost_usd"])

    def _fold_task(self, row: sqlite3.Row) -> None:
        day = self._task_days.setdefault(str(row["day"]), DayFigures())
        day.count += 1
        day.seconds.append(max(0.0, float(row["late"] or 0.0)))


def _drop_before(sums: dict[str, Any], first: str) -> None:
    """Forget the hours or days before `first` (keys sort as times)."""
    for key in [k for k in sums if k < first]:
        del sums[key]


def _copy(day: DayFigures) -> DayFigures:
    return DayFigures(day.count, day.failed, list(day.seconds), dict(day.cost))
