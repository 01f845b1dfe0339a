"""Who is calling: the run's identity as gated started it (never what the agent claims), the
group's settings as they are at the call, and what its grants allow."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import store
from store import FolderSettings
from store.audit import Actor

from gated.tools.protocol import ToolError


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """The run a tool socket belongs to."""

    run_id: int  # session_log id
    work_key: str  # 'chat:<jid>' or 'task:<folder>:<topic>'
    folder: str
    chat_jid: str
    topic: str
    batch_end: int  # seq of the batch's last message: a re-run of the batch has the same
    traceparent: str | None = None  # the run's span; in a call, the call's (tracing on)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a tool function gets besides its arguments."""

    conn: sqlite3.Connection
    run: RunIdentity
    settings: FolderSettings
    effect_id: str  # deterministic per (batch, tool, n): ids of what the call creates

    @property
    def actor(self) -> Actor:
        """The run as the audit log records an operator tool's change: its folder's agent,
        from the run's chat and id."""
        run = self.run
        return Actor(f"agent:{run.folder}", "tool", f"{run.chat_jid} run {run.run_id}")


def own_chats(conn: sqlite3.Connection, folder: str) -> list[str]:
    """The chats registered to the folder: a group's own chats."""
    return [g.jid for g in store.groups_for_folder(conn, folder)]


def check_own_chat(ctx: CallContext, jid: str, argument: str = "chat_jid") -> str:
    """`jid` if it is one of the group's own chats, else ToolError('refused')."""
    if jid != ctx.run.chat_jid and jid not in own_chats(ctx.conn, ctx.run.folder):
        raise ToolError("refused", f"{jid} is not one of this group's chats", argument)
    return jid


def check_send_to(ctx: CallContext, jid: str, argument: str = "chat_jid") -> str:
    """`jid` if the group may message it: its own chats, or a chat or folder in its
    `grants.send_to`; else ToolError('refused')."""
    if jid == ctx.run.chat_jid or jid in own_chats(ctx.conn, ctx.run.folder):
        return jid
    granted = ctx.settings.grants_send_to
    group = store.get_group(ctx.conn, jid)
    if jid in granted or (group is not None and group.folder in granted):
        return jid
    raise ToolError(
        "refused",
        f"this group may not message {jid} (grant it with grants.send_to)",
        argument,
    )
