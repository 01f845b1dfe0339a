"""Typed rows of timed's tables (`scheduled_tasks`, `task_runs`); re-exported by timed.api."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Task:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class TaskRun:
    id: int
    task_id: int
    slot: str
    fired_at: str
    status: RunStatus
    message_seq: int | None
    fired_by: str = ""
    note: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TaskRun:
        return cls(**{name: row[name] for name in cls.__slots__})
