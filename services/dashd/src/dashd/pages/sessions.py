"""Agent sessions per (folder, topic), the session log (one row per run, paged by id) and one
run's page with every tool call its agent made (gated's audit, `gated.tools.audit`)."""

from __future__ import annotations

from typing import Final

import store
from gated.tools import audit
from starlette.responses import Response
from starlette.routing import Route
from store import validate

from dashd.context import Ctx
from dashd.page import page

PAGE_SIZE: Final = 50


@page()
def session_list(ctx: Ctx) -> Response:
    viewer = ctx.user
    folder = ctx.param("folder") or None
    if folder is not None:
        validate.folder(folder)
        if not viewer.can_see_folder(folder):
            raise ctx.not_found("No such group here.")
    errors_only = ctx.param("errors") == "1"
    sessions = [
        s
        for s in store.list_sessions(ctx.read, viewer.folder_list)
        if folder is None or s["group_folder"] == folder
    ]
    runs = store.session_runs(
        ctx.read,
        group_folder=folder,
        before_id=ctx.int_param("before"),
        limit=PAGE_SIZE,
        errors_only=errors_only,
        folders=viewer.folder_list,
    )
    older = runs[-1].id if len(runs) == PAGE_SIZE else None
    return ctx.render(
        "sessions.html",
        sessions=sessions,
        runs=runs,
        calls=audit.call_counts(ctx.read, [r.id for r in runs]),
        folder=folder,
        errors_only=errors_only,
        older=older,
    )


@page()
def run_detail(ctx: Ctx) -> Response:
    run_id = ctx.path_id("run_id")
    found = store.session_runs(ctx.read, before_id=run_id + 1, limit=1)
    if not found or found[0].id != run_id or not ctx.user.can_see_folder(found[0].group_folder):
        raise ctx.not_found("No such run here.")
    return ctx.render("run.html", run=found[0], calls=audit.calls_of_run(ctx.read, run_id))


ROUTES = [
    Route("/sessions", session_list, methods=["GET"]),
    Route("/sessions/{run_id:int}", run_detail, methods=["GET"]),
]
