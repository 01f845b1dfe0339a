"""Web chat with a group: chat `web:<folder>`, registered to the folder on first use; messages
written with `store.put_message` (source `web`), replies and the agent's typing state streamed
live over Server-Sent Events from the hub (`/since` stays for clients that poll)."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from typing import Final

import store
from daemonkit import tracing
from starlette.responses import Response
from starlette.routing import Route
from store import validate
from store.paths import group_path

from dashd import streams
from dashd.chat_stream import ChatRows, chat_events
from dashd.context import Ctx
from dashd.live import Guard, Hub
from dashd.page import page

log = logging.getLogger(__name__)

HISTORY: Final = 50


def _folder(ctx: Ctx) -> str:
    """The folder in the path, if this viewer may chat with it and the group exists."""
    folder = validate.folder(ctx.request.path_params["folder"])
    if not ctx.user.can_see_folder(folder):
        raise ctx.not_found("No such group here.")
    if not store.groups_for_folder(ctx.read, folder) and not group_path(ctx.read, folder).is_dir():
        raise ctx.not_found("No such group here.")
    return folder


def ensure_registered(conn: sqlite3.Connection, folder: str) -> None:
    """Register `web:<folder>` to the folder (answered by the folder's agent) on first use."""
    jid = f"web:{folder}"
    if store.get_group(conn, jid) is not None:
        return
    try:
        store.register_group(conn, jid, folder, name=f"web chat {folder}")
        log.info("registered web chat jid=%s folder=%s", jid, folder)
    except store.InvalidInput:
        if store.get_group(conn, jid) is None:
            raise


@page()
def web_index(ctx: Ctx) -> Response:
    folders = [f for f in store.group_folders(ctx.read) if ctx.user.can_see_folder(f)]
    return ctx.render("web_index.html", folders=folders)


@page()
def web_chat(ctx: Ctx) -> Response:
    folder = _folder(ctx)
    messages = store.messages_before(ctx.read, f"web:{folder}", None, HISTORY)
    last = messages[-1].seq if messages else 0
    return ctx.render("web_chat.html", folder=folder, messages=messages, after=last)


@page()
def web_since(ctx: Ctx) -> Response:
    """New messages after `after` (appended out of band): for clients that poll."""
    folder = _folder(ctx)
    after = ctx.int_param("after") or 0
    messages = store.messages_since(ctx.read, f"web:{folder}", after, 100)
    last = messages[-1].seq if messages else after
    return ctx.render("web_since.html", folder=folder, messages=messages, after=last)


@page()
def web_events(ctx: Ctx) -> Response:
    """The chat's live stream, for the viewers who may open the chat page."""
    folder = _folder(ctx)
    hub: Hub = ctx.request.app.state.hub
    after = streams.resume_after(ctx.request, hub.last_seq)
    rows: ChatRows = ctx.request.app.state.chat_rows
    lifetime = streams.lifetime(ctx)
    guard = Guard("session", ctx.user.family)
    return streams.EventStream(
        lambda: chat_events(hub, rows, f"web:{folder}", after, lifetime, guard)
    )


@page()
def web_send(ctx: Ctx) -> Response:
    folder = _folder(ctx)
    text = validate.content(ctx.field("text"), "text")
    ensure_registered(ctx.write, folder)
    with tracing.span("dashd.ingest", kind="server", attributes={"channel": "web"}) as span:
        result = store.put_message(
            ctx.write,
            store.NewMessage(
                id=f"web:{uuid.uuid4().hex}",
                chat_jid=f"web:{folder}",
                content=text,
                sender=ctx.user.username,
                sender_name=ctx.user.username,
                source="web",
                group_folder=folder,
                chat_name=f"web chat {folder}",
                traceparent=tracing.traceparent(span),
            ),
        )
    log.info("web message folder=%s user=%s seq=%d", folder, ctx.user.username, result.seq)
    if ctx.request.headers.get("hx-request") == "true":
        return ctx.render("web_form.html", folder=folder)
    return ctx.redirect(f"/web/{folder}")


ROUTES = [
    Route("/web", web_index, methods=["GET"]),
    Route("/web/{folder}", web_chat, methods=["GET"]),
    Route("/web/{folder}/since", web_since, methods=["GET"]),
    Route("/web/{folder}/events", web_events, methods=["GET"]),
    Route("/web/{folder}", web_send, methods=["POST"]),
]
