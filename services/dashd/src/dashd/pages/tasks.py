"""Scheduled tasks and their runs; pause, resume and run-now through timed's own functions."""

from __future__ import annotations

import logging
from typing import Final, get_args

import store
from starlette.responses import Response
from starlette.routing import Route
from timed import api as timed

from dashd.context import Ctx
from dashd.page import page

log = logging.getLogger(__name__)

PAGE_SIZE: Final = 50
STATUSES: Final = get_args(timed.TaskStatus)


def _task(ctx: Ctx) -> timed.Task:
    task_id = ctx.path_id("task_id")
    task = timed.get_task(ctx.read, task_id)
    if task is None or not ctx.user.can_see_folder(task.group_folder):
        raise ctx.not_found("No such task here.")
    return task


@page()
def task_list(ctx: Ctx) -> Response:
    status = ctx.param("status") or None
    if status is not None and status not in STATUSES:
        raise store.InvalidInput("status", f"{status[:40]!r} is not one of {', '.join(STATUSES)}")
    after = ctx.int_param("after") or 0
    tasks = timed.list_tasks(
        ctx.read,
        folders=ctx.user.folder_list,
        status=status,  # type: ignore[arg-type]
        limit=PAGE_SIZE,
        after_id=after,
    )
    newer = tasks[-1].id if len(tasks) == PAGE_SIZE else None
    return ctx.render("tasks.html", tasks=tasks, status=status, statuses=STATUSES, newer=newer)


@page()
def task_detail(ctx: Ctx) -> Response:
    task = _task(ctx)
    runs = timed.runs(ctx.read, task.id, limit=50)
    return ctx.render("task.html", task=task, runs=runs)


def _act(ctx: Ctx, action: str) -> Response:
    try:
        task = _task(ctx)
        if action == "pause":
            timed.pause(ctx.write, task.id, actor=ctx.actor)
            done = f"Task {task.id} paused."
        elif action == "resume":
            timed.resume(ctx.write, task.id, actor=ctx.actor)
            done = f"Task {task.id} resumed."
        else:
            run = timed.run_now(ctx.write, task.id, actor=ctx.actor)
            done = f"Task {task.id} fired now (slot {run.slot})."
    except (store.StoreError, ValueError) as exc:
        return ctx.redirect(f"/tasks/{ctx.request.path_params['task_id']}", err=str(exc))
    log.info("task action=%s id=%d by=%s", action, task.id, ctx.user.username)
    return ctx.redirect(f"/tasks/{task.id}", ok=done)


@page()
def task_pause(ctx: Ctx) -> Response:
    return _act(ctx, "pause")


@page()
def task_resume(ctx: Ctx) -> Response:
    return _act(ctx, "resume")


@page()
def task_run_now(ctx: Ctx) -> Response:
    return _act(ctx, "run")


ROUTES = [
    Route("/tasks", task_list, methods=["GET"]),
    Route("/tasks/{task_id:int}", task_detail, methods=["GET"]),
    Route("/tasks/{task_id:int}/pause", task_pause, methods=["POST"]),
    Route("/tasks/{task_id:int}/resume", task_resume, methods=["POST"]),
    Route("/tasks/{task_id:int}/run", task_run_now, methods=["POST"]),
]
