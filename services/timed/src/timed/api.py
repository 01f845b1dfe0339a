"""timed's public functions for the CLI, dashd and gated (the only writers of scheduled_tasks
and task_runs besides timed itself). Signatures are the contract; see DESIGN.md section 5.
The caller opened the store with timed's schema (`store.open(path, {"timed": MIGRATIONS})`);
the read functions also work on a read-only connection before it was ever applied."""

from __future__ import annotations

import os
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import store
from store import InvalidInput, audit, iso, utcnow, validate
from store.audit import Actor

from timed.errors import TaskNotFound
from timed.firing import record_run
from timed.models import Context, Misfire, RunStatus, Task, TaskKind, TaskRun, TaskStatus
from timed.slots import Schedule, check_interval, next_slot, validate_cron, zone

__all__ = [
    "Context",
    "Misfire",
    "RunStatus",
    "Task",
    "TaskKind",
    "TaskRun",
    "TaskStatus",
    "add_task",
    "get_task",
    "list_tasks",
    "pause",
    "remove",
    "resume",
    "run_now",
    "runs",
]

MISFIRE_POLICIES = ("run_once", "skip")
MAX_PROMPT_BYTES = 100_000
MAX_GRACE_S = 30 * 86400

# Parameters: owner, chat_jid, group_folder, prompt, kind, cron, interval_s, run_at, tz,
# misfire, misfire_grace_s, context, next_run, created_at.
INSERT_TASK_SQL = """
INSERT INTO scheduled_tasks (owner, chat_jid, group_folder, prompt, kind, cron, interval_s,
                             run_at, tz, misfire, misfire_grace_s, context, status, next_run,
                             created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)
RETURNING *
"""


def has_schema(conn: sqlite3.Connection) -> bool:
    """True once timed's tables exist (read functions work on read-only connections)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'task_runs'"
    ).fetchone()
    return row is not None


def this_process() -> str:
    """How a run row names the process that wrote it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _aware(value: datetime, tz: str) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=zone(tz))


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
    actor: Actor | None = None,
) -> Task:
    """Create a task (exactly one of cron / every_s / at); InvalidInput names the bad field.

    A naive `at` is read in `tz`. `now` (default: the clock) is where the first slot is
    computed from. With an `actor` (an operator's, not an agent's own reminder), logged as
    `task.add`; so are pause, resume, remove and run_now with theirs (target `task:<id>`).
    """
    now = now or utcnow()
    validate.jid(chat_jid, "chat_jid")
    validate.content(prompt, "prompt")
    if len(prompt.encode()) > MAX_PROMPT_BYTES:
        raise InvalidInput("prompt", f"is over {MAX_PROMPT_BYTES} bytes")
    validate.short_text(owner, "owner")
    zone(tz)
    if misfire not in MISFIRE_POLICIES:
        raise InvalidInput("misfire", f"{misfire!r} is not one of {', '.join(MISFIRE_POLICIES)}")
    if not isinstance(misfire_grace_s, int) or not 0 <= misfire_grace_s <= MAX_GRACE_S:
        raise InvalidInput(
            "misfire_grace_s", f"{misfire_grace_s!r} is not whole seconds from 0 to {MAX_GRACE_S}"
        )
    given = [name for name, v in (("cron", cron), ("every", every_s), ("at", at)) if v is not None]
    if len(given) != 1:
        raise InvalidInput("schedule", "give exactly one of cron, every or at")
    if cron is not None:
        schedule = Schedule("cron", cron=validate_cron(cron), tz=tz)
        first = next_slot(schedule, now)
    elif every_s is not None:
        schedule = Schedule("interval", interval_s=check_interval(int(every_s)), tz=tz)
        first = next_slot(schedule, now)
    else:
        assert at is not None
        when = _aware(at, tz).astimezone(UTC)
        if when <= now:
            raise InvalidInput("at", f"{iso(when)} is in the past (now {iso(now)})")
        schedule = Schedule("once", run_at=iso(when), tz=tz)
        first = when
    assert first is not None
    group = store.get_group(conn, chat_jid)
    if group is None:
        raise InvalidInput("chat_jid", f"{chat_jid} is not a registered group")
    with store.tx(conn):
        row = conn.execute(
            INSERT_TASK_SQL,
            (
                owner,
                chat_jid,
                group.folder,
                prompt,
                schedule.kind,
                schedule.cron,
                schedule.interval_s,
                schedule.run_at,
                tz,
                misfire,
                misfire_grace_s,
                "isolated" if isolated else "group",
                iso(first),
                iso(now),
            ),
        ).fetchone()
        task = Task.from_row(row)
        audit.record(conn, actor, "task.add", audit_target(task.id), after=task)
    return task


def audit_target(task_id: int) -> str:
    """How the audit log names a task."""
    return f"task:{task_id}"


def get_task(conn: sqlite3.Connection, task_id: int) -> Task | None:
    if not has_schema(conn):
        return None
    row = conn.execute("SELECT * FROM scheduled_tasks WHERE id = ?", (task_id,)).fetchone()
    return Task.from_row(row) if row else None


def _require(conn: sqlite3.Connection, task_id: int) -> Task:
    task = get_task(conn, task_id)
    if task is None:
        raise TaskNotFound(f"no task with id {task_id}")
    return task


def list_tasks(
    conn: sqlite3.Connection,
    *,
    folders: list[str] | None = None,
    status: TaskStatus | None = None,
    limit: int = 100,
    after_id: int = 0,
) -> list[Task]:
    """Tasks by id; `folders` restricts to those group folders (dashboard user_groups)."""
    if not has_schema(conn):
        return []
    sql = "SELECT * FROM scheduled_tasks WHERE id > ?"
    params: list[Any] = [after_id]
    if folders is not None:
        sql += f" AND group_folder IN ({','.join('?' * len(folders))})"
        params += folders
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    sql += " ORDER BY id LIMIT ?"
    params.append(limit)
    return [Task.from_row(r) for r in conn.execute(sql, params)]


def pause(conn: sqlite3.Connection, task_id: int, *, actor: Actor | None = None) -> Task:
    """Stop an active task from firing (its next_run is cleared); a paused task is unchanged."""
    with store.tx(conn):
        task = _require(conn, task_id)
        if task.status == "completed":
            raise InvalidInput("task", f"task {task_id} is completed; nothing to pause")
        conn.execute(
            "UPDATE scheduled_tasks SET status = 'paused', next_run = NULL "
            "WHERE id = ? AND status = 'active'",
            (task_id,),
        )
        after = _require(conn, task_id)
        audit.record(conn, actor, "task.pause", audit_target(task_id), before=task, after=after)
        return after


def resume(
    conn: sqlite3.Connection,
    task_id: int,
    now: datetime | None = None,
    *,
    actor: Actor | None = None,
) -> Task:
    """Re-activate a paused task; next_run is recomputed from now."""
    now = now or utcnow()
    with store.tx(conn):
        task = _require(conn, task_id)
        if task.status != "paused":
            raise InvalidInput("task", f"task {task_id} is {task.status}, not paused")
        first = next_slot(task, now)
        if first is None:
            raise InvalidInput("task", f"one-shot task {task_id} is past its time {task.run_at}")
        conn.execute(
            "UPDATE scheduled_tasks SET status = 'active', next_run = ? "
            "WHERE id = ? AND status = 'paused'",
            (iso(first), task_id),
        )
        after = _require(conn, task_id)
        audit.record(conn, actor, "task.resume", audit_target(task_id), before=task, after=after)
        return after


def remove(conn: sqlite3.Connection, task_id: int, *, actor: Actor | None = None) -> None:
    """Delete a task and its run history (its posted messages stay)."""
    with store.tx(conn):
        task = _require(conn, task_id)
        conn.execute("DELETE FROM scheduled_tasks WHERE id = ?", (task_id,))
        audit.record(conn, actor, "task.remove", audit_target(task_id), before=task)


def run_now(
    conn: sqlite3.Connection,
    task_id: int,
    now: datetime | None = None,
    *,
    actor: Actor | None = None,
) -> TaskRun:
    """Fire an extra run now, with its own slot key."""
    now = now or utcnow()
    with store.tx(conn):
        task = _require(conn, task_id)
        slot = now
        # The slot is the key: step past any run already recorded at this millisecond.
        while conn.execute(
            "SELECT 1 FROM task_runs WHERE task_id = ? AND slot = ?", (task_id, iso(slot))
        ).fetchone():
            slot += timedelta(milliseconds=1)
        run_id = record_run(conn, task, iso(slot), "fired", now, this_process(), "run-now")
        row = conn.execute("SELECT * FROM task_runs WHERE id = ?", (run_id,)).fetchone()
        run = TaskRun.from_row(row)
        audit.record(conn, actor, "task.run_now", audit_target(task_id), after=run)
        return run


def runs(conn: sqlite3.Connection, task_id: int, limit: int = 50) -> list[TaskRun]:
    """A task's runs, newest first."""
    if not has_schema(conn):
        return []
    rows = conn.execute(
        "SELECT * FROM task_runs WHERE task_id = ? ORDER BY slot DESC, id DESC LIMIT ?",
        (task_id, limit),
    ).fetchall()
    return [TaskRun.from_row(r) for r in rows]
