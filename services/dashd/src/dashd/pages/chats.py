"""Chats and their messages (paged by seq, never OFFSET), and message search (bounded slices
of seq, scoped to the viewer's chats)."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

import store
from starlette.responses import Response
from starlette.routing import Route
from store import blobs, share_links, validate
from store.outbox import outbox_states
from store.search import search_messages

from dashd.context import Ctx
from dashd.page import page

PAGE_SIZE: Final = 50
MAX_QUERY: Final = 200


def _query(ctx: Ctx) -> str:
    q = ctx.param("q").strip()
    if len(q) > MAX_QUERY:
        raise store.InvalidInput("q", f"search text is {len(q)} characters; at most {MAX_QUERY}")
    return q


@page()
def chat_list(ctx: Ctx) -> Response:
    before = ctx.param("before")[:40] or None
    chats = store.list_chats(ctx.read, before=before, limit=PAGE_SIZE, folders=ctx.user.folder_list)
    older = chats[-1].last_message_at if len(chats) == PAGE_SIZE else None
    shared = {c.jid for c in chats if share_links.is_visitor_jid(c.jid)}
    return ctx.render(
        "chats.html", chats=chats, older=older, paged=before is not None, shared=shared
    )


@page()
def chat_detail(ctx: Ctx) -> Response:
    jid = validate.jid(ctx.request.path_params["jid"], "jid")
    conn = ctx.read
    if not ctx.user.can_see_jid(conn, jid):
        raise ctx.not_found("No such chat here.")
    chat = store.get_chat(conn, jid)
    if chat is None:
        raise ctx.not_found("No such chat here.")
    q = _query(ctx)
    before = ctx.int_param("before")
    found = None
    if q:
        found = search_messages(conn, q, chat_jid=jid, before_seq=before, limit=PAGE_SIZE)
        messages = list(reversed(found.messages))
    else:
        messages = store.messages_before(conn, jid, before, PAGE_SIZE)
    older = messages[0].seq if len(messages) == PAGE_SIZE and not q else None
    return ctx.render(
        "chat.html",
        chat=chat,
        group=store.get_group(conn, jid),
        messages=messages,
        older=older,
        before=before,
        q=q,
        found=found,
        states=outbox_states(conn, [m.seq for m in messages if m.is_from_me]),
    )


@page()
def search(ctx: Ctx) -> Response:
    q = _query(ctx)
    found = None
    if q:
        found = search_messages(
            ctx.read,
            q,
            folders=ctx.user.folder_list,
            before_seq=ctx.int_param("before"),
            limit=PAGE_SIZE,
        )
    return ctx.render("search.html", q=q, found=found)


@page()
def file_download(ctx: Ctx) -> Response:
    """A file an agent sent (a stored attachment of message `seq`), to a viewer of its chat.
    Always a download of octet-stream bytes: the agent chose the name and type, so the
    browser must never render it."""
    seq = int(ctx.request.path_params["seq"])
    n = int(ctx.request.path_params["n"])
    conn = ctx.read
    msg = store.get_message(conn, seq)
    if msg is None or not ctx.user.can_see_jid(conn, msg.chat_jid):
        raise ctx.not_found("No such file here.")
    files = blobs.stored_files(msg.attachments)
    if not 0 <= n < len(files):
        raise ctx.not_found("No such file here.")
    entry = files[n]
    try:
        data = blobs.blob_path(conn, entry["file"]).read_bytes()
    except OSError:
        raise ctx.not_found("That file is no longer stored.") from None
    name = str(entry.get("name") or "file")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"},
    )


ROUTES = [
    Route("/files/{seq:int}/{n:int}", file_download, methods=["GET"]),
    Route("/chats", chat_list, methods=["GET"]),
    Route("/chats/{jid:path}", chat_detail, methods=["GET"]),
    Route("/search", search, methods=["GET"]),
]
