"""Firing due tasks exactly once: plan each due task's slots (misfire policy included), then in
one `BEGIN IMMEDIATE` transaction move `next_run` by compare-and-set and, only if that won,
post the prompt message and write the `task_runs` rows."""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

import store
from daemonkit import tracing
from store import NewMessage, bus, iso, parse_iso

from timed.models import RunStatus, Task
from timed.slots import latest_slot, next_slot

log = logging.getLogger(__name__)

# Late slots itemised one row each per catch-up; beyond that one row notes the gap.
CATCHUP_LIMIT: Final = 1000
DEFAULT_BATCH: Final = 200

# Parameters: now (UTC text), batch size. Served by the partial index scheduled_tasks_due.
DUE_SQL: Final = """
SELECT * FROM scheduled_tasks
WHERE status = 'active' AND next_run <= ?
ORDER BY next_run, id
LIMIT ?
"""

# Parameters: new next_run, new status, fired slot or NULL, id, old next_run (the CAS).
ADVANCE_SQL: Final = """
UPDATE scheduled_tasks
SET next_run = ?, status = ?, last_run = COALESCE(?, last_run)
WHERE id = ? AND status = 'active' AND next_run = ?
"""

# Parameters: task_id, slot, fired_at, status, message_seq, fired_by, note.
INSERT_RUN_SQL: Final = """
INSERT INTO task_runs (task_id, slot, fired_at, status, message_seq, fired_by, note)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (task_id, slot) DO NOTHING
RETURNING id
"""


@dataclass(frozen=True, slots=True)
class PlannedRun:
    slot: datetime
    status: RunStatus
    note: str = ""


@dataclass(slots=True)
class Plan:
    """What handling one due task means: its run rows and where `next_run` goes."""

    task: Task
    runs: list[PlannedRun] = field(default_factory=list)
    next_run: datetime | None = None


def plan_task(task: Task, now: datetime) -> Plan:
    """Every slot of `task` from its `next_run` up to `now`, classified by the misfire policy.

    Slots at most `misfire_grace_s` late fire. Older ones: `skip` records them `skipped`;
    `run_once` records them `missed`, except that when no fresh slot fires, the latest of them
    fires instead (so a task runs once after downtime).
    """
    assert task.next_run is not None
    cutoff = now - timedelta(seconds=task.misfire_grace_s)
    late: list[datetime] = []
    fresh: list[datetime] = []
    gap_note = ""
    slot: datetime | None = parse_iso(task.next_run)
    while slot is not None and slot <= now:
        if slot < cutoff:
            if len(late) >= CATCHUP_LIMIT:
                last = latest_slot(task, slot, cutoff - timedelta(microseconds=1))
                gap_note = f"slots from {iso(slot)} up to {iso(last)} not itemised"
                late.append(last)
                slot = next_slot(task, last)
                continue
            late.append(slot)
        else:
            fresh.append(slot)
        slot = next_slot(task, slot)
    plan = Plan(task, next_run=slot)
    late_status: RunStatus = "skipped" if task.misfire == "skip" else "missed"
    fire_latest_late = task.misfire == "run_once" and not fresh and bool(late)
    for i, s in enumerate(late):
        is_last = i == len(late) - 1
        note = f"late beyond {task.misfire_grace_s}s grace ({task.misfire})"
        if is_last and gap_note:
            note = f"{note}; earlier {gap_note}"
        status: RunStatus = "fired" if is_last and fire_latest_late else late_status
        plan.runs.append(PlannedRun(s, status, note))
    plan.runs.extend(PlannedRun(s, "fired") for s in fresh)
    return plan


def task_message(task: Task, slot: str, now: datetime) -> NewMessage:
    """The prompt message for one slot; its id makes a re-post a no-op."""
    return NewMessage(
        id=f"task:{task.id}:{slot}",
        chat_jid=task.chat_jid,
        content=task.prompt,
        sender=bus.SCHEDULER_SENDER,
        sender_name=bus.SCHEDULER_SENDER,
        timestamp=iso(now),
        verb=bus.TASK,
        source=bus.SCHEDULER_SOURCE,
        group_folder=task.group_folder,
        topic=f"task:{task.id}" if task.context == "isolated" else "",
    )


def record_run(
    conn: sqlite3.Connection,
    task: Task,
    slot: str,
    status: RunStatus,
    now: datetime,
    fired_by: str,
    note: str = "",
) -> int | None:
    """Inside an open transaction: post the message (when fired) and write the run row."""
    seq = None
    if status == "fired":
        attributes: tracing.Attributes = {
            "task": task.id,
            "slot": slot,
            "folder": task.group_folder,
        }
        with tracing.span("timed.fire", kind="producer", attributes=attributes) as span:
            msg = replace(task_message(task, slot, now), traceparent=tracing.traceparent(span))
            seq = store.put_message(conn, msg).seq
    row = conn.execute(
        INSERT_RUN_SQL, (task.id, slot, iso(now), status, seq, fired_by, note)
    ).fetchone()
    if row is None:
        log.warning("run already recorded task=%d slot=%s", task.id, slot)
        return None
    return int(row[0])


def apply_plan(conn: sqlite3.Connection, plan: Plan, now: datetime, fired_by: str) -> int:
    """Inside an open transaction: CAS `next_run`, then write the plan. Returns messages posted."""
    task = plan.task
    fired = [r.slot for r in plan.runs if r.status == "fired"]
    cur = conn.execute(
        ADVANCE_SQL,
        (
            iso(plan.next_run) if plan.next_run else None,
            "active" if plan.next_run else "completed",
            iso(max(fired)) if fired else None,
            task.id,
            task.next_run,
        ),
    )
    if cur.rowcount != 1:
        log.debug("task already handled by another process task=%d", task.id)
        return 0
    for run in plan.runs:
        record_run(conn, task, iso(run.slot), run.status, now, fired_by, run.note)
        if run.status != "fired":
            log.info("task=%d slot=%s status=%s", task.id, iso(run.slot), run.status)
    return len(fired)


def fire_due(
    conn: sqlite3.Connection,
    now: datetime,
    *,
    fired_by: str,
    batch: int = DEFAULT_BATCH,
    clock: Callable[[], datetime] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Handle every task due at `now`, `batch` tasks per transaction; returns messages posted.

    With a `clock`, each later batch reads the time again (so `fired_at` is honest in a long
    burst); without one (tests), `now` is fixed. A set `stop` ends the pass between batches.
    """
    total = 0
    for batch_no in itertools.count():
        with store.tx(conn):
            if batch_no and clock is not None:
                now = clock()
            rows = conn.execute(DUE_SQL, (iso(now), batch)).fetchall()
            for row in rows:
                task = Task.from_row(row)
                try:
                    plan = plan_task(task, now)
                except Exception:
                    log.exception("cannot compute slots; pausing task=%d", task.id)
                    conn.execute(
                        "UPDATE scheduled_tasks SET status = 'paused', next_run = NULL "
                        "WHERE id = ? AND next_run = ?",
                        (task.id, task.next_run),
                    )
                    continue
                total += apply_plan(conn, plan, now, fired_by)
        if len(rows) < batch or (stop is not None and stop.is_set()):
            break
    return total


def earliest_next_run(conn: sqlite3.Connection) -> datetime | None:
    """The earliest `next_run` of any active task (what the alarm is armed for)."""
    row = conn.execute(
        "SELECT MIN(next_run) FROM scheduled_tasks WHERE status = 'active'"
    ).fetchone()
    return parse_iso(row[0]) if row and row[0] else None
