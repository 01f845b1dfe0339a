"""The tools about scheduled tasks, through timed's own functions (`timed.api`): a task made
by an agent belongs to the run's chat and its group; a group sees and changes only its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import store
from timed import api
from timed.models import Task

from gated.tools.args import NoArgs, ScheduleTask, TaskId
from gated.tools.context import CallContext
from gated.tools.protocol import ToolError

# timed's field names -> the tool's argument names.
ARGUMENT: dict[str, str] = {"every": "every_s", "schedule": "cron", "chat_jid": "chat_jid"}


def task_json(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "prompt": t.prompt,
        "kind": t.kind,
        "cron": t.cron,
        "every_s": t.interval_s,
        "at": t.run_at,
        "tz": t.tz,
        "context": t.context,
        "status": t.status,
        "next_run": t.next_run,
        "last_run": t.last_run,
        "chat_jid": t.chat_jid,
    }


def _at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ToolError(
            "invalid_argument", f"{text[:60]!r} is not an ISO 8601 time", "at"
        ) from None
    if when.tzinfo is None:
        raise ToolError("invalid_argument", "give the time with its offset (…+02:00 or …Z)", "at")
    return when


def _own_task(ctx: CallContext, task_id: int) -> Task:
    task = api.get_task(ctx.conn, task_id)
    if task is None or task.group_folder != ctx.run.folder:
        # The same answer whether or not another group has such a task.
        raise ToolError("refused", f"no task {task_id} in this group", "id")
    return task


def _timed(exc: store.InvalidInput) -> ToolError:
    return ToolError("invalid_argument", str(exc), ARGUMENT.get(exc.field, exc.field))


def schedule_task(ctx: CallContext, args: ScheduleTask) -> dict[str, Any]:
    given = [n for n in ("cron", "every_s", "at") if getattr(args, n) is not None]
    if len(given) != 1:
        raise ToolError("invalid_argument", "give exactly one of cron, every_s or at", "cron")
    try:
        task = api.add_task(
            ctx.conn,
            chat_jid=ctx.run.chat_jid,
            prompt=args.prompt,
            cron=args.cron,
            tz=args.tz or "UTC",
            every_s=args.every_s,
            at=_at(args.at),
            isolated=args.context == "isolated",
            owner=f"agent:{ctx.run.folder}",
        )
    except store.InvalidInput as exc:
        raise _timed(exc) from None
    return task_json(task)


def list_tasks(ctx: CallContext, _args: NoArgs) -> dict[str, Any]:
    tasks = api.list_tasks(ctx.conn, folders=[ctx.run.folder], limit=500)
    return {"tasks": [task_json(t) for t in tasks]}


def _change(ctx: CallContext, task_id: int, change: Callable[..., Task]) -> dict[str, Any]:
    """Pause or resume one of the group's own tasks; timed's refusal names the id."""
    _own_task(ctx, task_id)
    try:
        return task_json(change(ctx.conn, task_id))
    except store.InvalidInput as exc:
        raise ToolError("invalid_argument", str(exc), "id") from None


def pause_task(ctx: CallContext, args: TaskId) -> dict[str, Any]:
    return _change(ctx, args.id, api.pause)


def resume_task(ctx: CallContext, args: TaskId) -> dict[str, Any]:
    return _change(ctx, args.id, api.resume)


def cancel_task(ctx: CallContext, args: TaskId) -> dict[str, Any]:
    _own_task(ctx, args.id)
    api.remove(ctx.conn, args.id)
    return {"id": args.id, "cancelled": True}
