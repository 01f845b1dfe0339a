"""timed's public functions for the CLI, dashd and gated (the only writers of scheduled_tasks
and task_runs besides timed itself). Signatures are the contract; see DESIGN.md section 5."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

TaskKind = Literal["cron", "interval", "once"]
TaskStatus = Literal["active", "paused", "completed"]
Misfire = Literal["run_once", "skip"]
Context = Literal["group", "isolated"]
RunStatus = Literal["fired", "missed", "skipped"]


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    owner: str
    chat_jid: str
    group_folder: str
    prompt: str
    kind: TaskKind
    cron: str | None
    interval_s: int | None
    run_at: str | None
    tz: str
    misfire: Misfire
    misfire_grace_s: int
    context: Context
    status: TaskStatus
    next_run: str | None
    last_run: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class TaskRun:
    id: int
    task_id: int
    slot: str
    fired_at: str
    status: RunStatus
    message_seq: int | None


def add_task(
    conn: sqlite3.Connection,
    *,
    chat_jid: str,
    prompt: str,
    cron: str | None = None,
    tz: str = "UTC",
    every_s: int | None = None,
    at: datetime | None = None,
    misfire: Misfire = "run_once",
    misfire_grace_s: int = 60,
    isolated: bool = False,
    owner: str = "cli",
    now: datetime | None = None,
) -> Task:
    """Create a task (exactly one of cron / every_s / at); InvalidInput names the bad field."""
    raise NotImplementedError


def get_task(conn: sqlite3.Connection, task_id: int) -> Task | None:
    raise NotImplementedError


def list_tasks(
    conn: sqlite3.Connection,
    *,
    folders: list[str] | None = None,
    status: TaskStatus | None = None,
    limit: int = 100,
    after_id: int = 0,
) -> list[Task]:
    """Tasks by id; `folders` restricts to those group folders (dashboard user_groups)."""
    raise NotImplementedError


def pause(conn: sqlite3.Connection, task_id: int) -> Task:
    raise NotImplementedError


def resume(conn: sqlite3.Connection, task_id: int, now: datetime | None = None) -> Task:
    """Re-activate a paused task; next_run is recomputed from now."""
    raise NotImplementedError


def remove(conn: sqlite3.Connection, task_id: int) -> None:
    raise NotImplementedError


def run_now(conn: sqlite3.Connection, task_id: int, now: datetime | None = None) -> TaskRun:
    """Fire an extra run now, with its own slot key."""
    raise NotImplementedError


def runs(conn: sqlite3.Connection, task_id: int, limit: int = 50) -> list[TaskRun]:
    """A task's runs, newest first."""
    raise NotImplementedError
