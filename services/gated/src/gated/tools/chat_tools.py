"""The tools about chats: `chat_info`, `send_message`, `history`, `search` — a group's own
chats, plus the chats its `grants.send_to` names for sending."""

from __future__ import annotations

from typing import Any

import store
from store import Message, validate
from store.hierarchy import children, folder_parent
from store.search import search_messages

from gated.tools.args import History, NoArgs, Search, SendMessage
from gated.tools.context import CallContext, check_own_chat, check_send_to, own_chats
from gated.tools.protocol import ToolError


def message_json(m: Message) -> dict[str, Any]:
    return {
        "seq": m.seq,
        "id": m.id,
        "chat_jid": m.chat_jid,
        "sender": m.sender,
        "sender_name": m.sender_name,
        "content": m.content,
        "timestamp": m.timestamp,
        "from_me": m.is_from_me,
    }


def target_jid(value: str | None, ctx: CallContext) -> str:
    """The chat a call names (validated), or the run's own when it names none."""
    if value is None:
        return ctx.run.chat_jid
    try:
        return validate.jid(value, "chat_jid")
    except store.InvalidInput as exc:
        raise ToolError("invalid_argument", str(exc), "chat_jid") from None


def chat_info(ctx: CallContext, _args: NoArgs) -> dict[str, Any]:
    run = ctx.run
    return {
        "chat_jid": run.chat_jid,
        "folder": run.folder,
        "topic": run.topic,
        "channel": validate.channel_of(run.chat_jid),
        "run_id": run.run_id,
        "own_chats": own_chats(ctx.conn, run.folder),
        "parent": folder_parent(ctx.conn, run.folder),
        "children": children(ctx.conn, run.folder),  # it may delegate to these
        "grants": {
            "send_to": list(ctx.settings.grants_send_to),
            "delegate_to": list(ctx.settings.grants_delegate_to),
            "operator": ctx.settings.grants_operator,
        },
    }


def send_message(ctx: CallContext, args: SendMessage) -> dict[str, Any]:
    jid = check_send_to(ctx, target_jid(args.chat_jid, ctx))
    try:
        seq = store.store_outbound(
            ctx.conn,
            jid,
            args.text,
            group_folder=ctx.run.folder,
            source="tool",
            topic=ctx.run.topic if jid == ctx.run.chat_jid else "",
            sender=ctx.run.folder,
            msg_id=ctx.effect_id,
            traceparent=ctx.run.traceparent,
        )
    except store.InvalidInput as exc:
        raise ToolError("invalid_argument", str(exc), "text") from None
    return {"chat_jid": jid, "seq": seq, "message_id": ctx.effect_id}


def history(ctx: CallContext, args: History) -> dict[str, Any]:
    jid = check_own_chat(ctx, target_jid(args.chat_jid, ctx))
    msgs = store.messages_before(ctx.conn, jid, args.before_seq, args.limit)
    return {"chat_jid": jid, "messages": [message_json(m) for m in msgs]}


def search(ctx: CallContext, args: Search) -> dict[str, Any]:
    jids = sorted({ctx.run.chat_jid, *own_chats(ctx.conn, ctx.run.folder)})
    page = search_messages(
        ctx.conn, args.query, jids=jids, before_seq=args.before_seq, limit=args.limit
    )
    return {
        "messages": [message_json(m) for m in page.messages],
        "next_before_seq": page.next_before,  # pass as before_seq for older matches
    }
