"""Groups and routes: which chats each folder answers (as the folder tree, children under their
parent), each folder's settings with where they come from and its persona (read-only: they
change with `switchboard group config` / `group persona`) and the routing rules; operators add
and remove routes through `store.add_route` / `store.remove_route`."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

import store
from starlette.responses import Response
from starlette.routing import Route
from store import share_links, validate
from store.hierarchy import inherited_persona, parent_map, tree_order
from store.paths import group_path
from store.persona import PERSONA_FILE, read_persona

from dashd.context import Ctx
from dashd.page import page

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Persona:
    """A folder's CLAUDE.md as the page shows it: its text, or why there is none to show."""

    text: str | None
    problem: str = ""
    inherited_from: str | None = None  # the ancestor's persona the folder's agent reads

    @property
    def first_line(self) -> str:
        """Its first line of prose (a heading when it has none), cut to 120 characters."""
        lines = [line.strip() for line in (self.text or "").splitlines() if line.strip()]
        prose = [line for line in lines if not line.startswith("#")] or lines
        return prose[0].lstrip("# ")[:120] if prose else ""


def persona_of(conn: sqlite3.Connection, folder: str) -> Persona:
    """Read without creating anything; a CLAUDE.md that is a link or not a plain file is not
    followed (the folder is its agent's to write)."""
    try:
        text = read_persona(group_path(conn, folder))
    except store.UnsafeFile:
        return Persona(None, f"{PERSONA_FILE} is not a plain file; not shown")
    except OSError as exc:
        return Persona(None, f"{PERSONA_FILE} cannot be read ({exc.strerror})")
    inherited = inherited_persona(conn, folder)
    if inherited is not None:
        return Persona(inherited.text, inherited_from=inherited.folder)
    if text is None:
        return Persona(None, f"no {PERSONA_FILE} in this folder")
    return Persona(text)


@page()
def group_list(ctx: Ctx) -> Response:
    conn, viewer = ctx.read, ctx.user
    registered = store.registered_groups(conn, visitors=False)  # visitors are counted below
    groups = [g for g in registered if viewer.can_see_folder(g.folder)]
    routes = [
        r
        for r in store.all_routes(conn)
        if viewer.is_operator
        or (viewer.can_see_jid(conn, r.jid) and viewer.can_see_folder(r.target))
    ]
    seen = [f for f in store.group_folders(conn) if viewer.can_see_folder(f)]
    visitors = share_links.visitor_counts(conn, seen)
    tree = tree_order(parent_map(conn), {g.folder for g in groups} | set(visitors))
    order = {row.folder: i for i, row in enumerate(tree)}
    groups.sort(key=lambda g: (order[g.folder], g.jid))
    depth = {row.folder: row.depth for row in tree}
    folders = [row.folder for row in tree]
    settings = {f: store.setting_lines(conn, f) for f in folders}
    commands = {f: store.folder_settings(conn, f).command for f in folders}
    personas = {f: persona_of(conn, f) for f in folders}
    return ctx.render(
        "groups.html",
        groups=groups,
        depth=depth,
        parents={row.folder: row.parent for row in tree},
        routes=routes,
        route_types=validate.ROUTE_TYPES,
        settings=settings,
        commands=commands,
        personas=personas,
        visitors=visitors,
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
        actor=ctx.actor,
    )
    log.info("route added id=%d jid=%s by=%s", route.id, route.jid, ctx.user.username)
    return ctx.redirect("/groups", ok=f"Route {route.id} added for {route.jid}.")


@page(operator=True)
def route_remove(ctx: Ctx) -> Response:
    route_id = ctx.path_id("route_id")
    store.remove_route(ctx.write, route_id, actor=ctx.actor)
    log.info("route removed id=%d by=%s", route_id, ctx.user.username)
    return ctx.redirect("/groups", ok=f"Route {route_id} removed.")


ROUTES = [
    Route("/groups", group_list, methods=["GET"]),
    Route("/routes", route_add, methods=["POST"]),
    Route("/routes/{route_id:int}/delete", route_remove, methods=["POST"]),
]
