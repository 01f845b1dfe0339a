"""Groups and routes: which chats each folder answers, each folder's settings (read-only: they
change with `switchboard group config`) and the routing rules; operators add and remove routes
through `store.add_route` / `store.remove_route`."""

from __future__ import annotations

import logging

import store
from starlette.responses import Response
from starlette.routing import Route
from store import validate

from dashd.context import Ctx
from dashd.page import page

log = logging.getLogger(__name__)


@page()
def group_list(ctx: Ctx) -> Response:
    conn, viewer = ctx.read, ctx.user
    groups = [g for g in store.registered_groups(conn) if viewer.can_see_folder(g.folder)]
    jids = viewer.jids(conn)
    routes = [
        r
        for r in store.all_routes(conn)
        if jids is None or (r.jid in jids and viewer.can_see_folder(r.target))
    ]
    folders = sorted({g.folder for g in groups})
    settings = {f: store.setting_lines(conn, f) for f in folders}
    commands = {f: store.folder_settings(conn, f).command for f in folders}
    return ctx.render(
        "groups.html",
        groups=groups,
        routes=routes,
        route_types=validate.ROUTE_TYPES,
        settings=settings,
        commands=commands,
    )


@page(operator=True)
def route_add(ctx: Ctx) -> Response:
    seq_text = ctx.field("seq").strip()
    if seq_text and not seq_text.isdigit():
        raise store.InvalidInput("seq", f"{seq_text[:20]!r} is not a positive integer")
    route = store.add_route(
        ctx.write,
        ctx.field("jid").strip(),
        ctx.field("type"),
        ctx.field("match"),
        ctx.field("target").strip(),
        seq=int(seq_text) if seq_text else None,
    )
    log.info("route added id=%d jid=%s by=%s", route.id, route.jid, ctx.user.username)
    return ctx.redirect("/groups", ok=f"Route {route.id} added for {route.jid}.")


@page(operator=True)
def route_remove(ctx: Ctx) -> Response:
    route_id = ctx.path_id("route_id")
    store.remove_route(ctx.write, route_id)
    log.info("route removed id=%d by=%s", route_id, ctx.user.username)
    return ctx.redirect("/groups", ok=f"Route {route_id} removed.")


ROUTES = [
    Route("/groups", group_list, methods=["GET"]),
    Route("/routes", route_add, methods=["POST"]),
    Route("/routes/{route_id:int}/delete", route_remove, methods=["POST"]),
]
