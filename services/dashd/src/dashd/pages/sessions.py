"""Agent sessions per (folder, topic) and the session log (one row per run), paged by id."""

from __future__ import annotations

from typing import Final

import store
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
        folder=folder,
        errors_only=errors_only,
        older=older,
    )


ROUTES = [Route("/sessions", session_list, methods=["GET"])]
