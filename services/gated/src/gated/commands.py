"""Chat commands (`/new`, `/ping`, `/chatid`, `/stop`, `/approve`, `/reject`): a pure parser and
the handler that acts on one and answers through the outbox."""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

import store
from onbod import api
from store import Group, InvalidInput, Message
from store.audit import Actor

from gated import __version__
from gated.routing import COMMAND_RE

log = logging.getLogger(__name__)

CommandName = Literal["new", "ping", "chatid", "stop", "approve", "reject"]
COMMAND_NAMES: tuple[str, ...] = get_args(CommandName)
TOPIC_RE = re.compile(r"[\w.:-]{1,64}")  # fullmatch: a whole topic


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command; `error` says what is wrong with its arguments (answered as usage)."""

    name: CommandName
    topic: str = ""
    jid: str = ""
    reason: str = ""
    error: str | None = None


USAGE: dict[str, str] = {
    "new": "/new [#topic]",
    "approve": "/approve JID",
    "reject": "/reject JID [reason]",
}


def parse_command(text: str) -> Command | None:
    """The built-in command a message holds, or None (an ordinary message, maybe routed)."""
    m = COMMAND_RE.match(text)
    if m is None:
        return None
    name = m.group(1).lower()
    if name not in COMMAND_NAMES:
        return None
    cmd: CommandName = name  # type: ignore[assignment]
    rest = text[m.end() :].strip()
    if cmd == "new":
        if not rest:
            return Command(cmd)
        topic = rest.split()[0].removeprefix("#")
        if len(rest.split()) > 1 or not TOPIC_RE.fullmatch(topic):
            return Command(cmd, error=f"bad topic {rest[:40]!r}; usage: {USAGE['new']}")
        return Command(cmd, topic=topic)
    if cmd in ("approve", "reject"):
        parts = rest.split(maxsplit=1)
        if not parts:
            return Command(cmd, error=f"a chat jid is required; usage: {USAGE[cmd]}")
        try:
            jid = store.validate.jid(parts[0], "jid")
        except InvalidInput as exc:
            return Command(cmd, error=f"{exc}; usage: {USAGE[cmd]}")
        reason = parts[1].strip() if len(parts) > 1 and cmd == "reject" else ""
        if len(parts) > 1 and cmd == "approve":
            return Command(cmd, error=f"unexpected text after the jid; usage: {USAGE[cmd]}")
        return Command(cmd, jid=jid, reason=reason)
    return Command(cmd)


class CommandContext(Protocol):
    """What a command needs from the running gateway."""

    def stop_folder(self, folder: str) -> bool:
        """Terminate the running agent of a group folder; False when none runs."""
        ...

    def queue_depth(self) -> int: ...


def answer(conn: sqlite3.Connection, msg: Message, group: Group, text: str) -> None:
    """Reply to a command message; the id is derived from the command, so a re-scan is a no-op."""
    store.store_outbound(
        conn,
        msg.chat_jid,
        text,
        group_folder=group.folder,
        source="gated",
        topic=msg.topic,
        reply_to_id=msg.id,
        msg_id=f"cmd:{msg.seq}",
    )


def _onboarding(conn: sqlite3.Connection, cmd: Command, msg: Message) -> str:
    """/approve or /reject from an operator chat, logged as the sender in that chat."""
    by = msg.sender or msg.sender_name or msg.chat_jid
    actor = Actor(by, "chat", msg.chat_jid)
    try:
        if cmd.name == "approve":
            decision = api.approve(conn, cmd.jid, by, actor=actor)
        else:
            decision = api.reject(conn, cmd.jid, by, cmd.reason, actor=actor)
    except InvalidInput as exc:
        return str(exc)
    return decision.message


def handle_command(
    conn: sqlite3.Connection, ctx: CommandContext, cmd: Command, msg: Message, group: Group
) -> str:
    """Act on a command from a registered chat and answer it; returns the answer text."""
    if cmd.error is not None:
        text = cmd.error
    elif cmd.name == "ping":
        text = f"pong (gated {__version__}, queue depth {ctx.queue_depth()})"
    elif cmd.name == "chatid":
        text = msg.chat_jid
    elif cmd.name == "new":
        store.delete_session(conn, group.folder, cmd.topic)
        where = f" for topic #{cmd.topic}" if cmd.topic else ""
        text = f"new session{where}: the next message starts fresh"
    elif cmd.name == "stop":
        text = "stopped the running agent" if ctx.stop_folder(group.folder) else "nothing running"
    elif not group.is_operator:
        text = f"/{cmd.name} works only in an operator group"
    else:
        text = _onboarding(conn, cmd, msg)
    log.info("command chat=%s seq=%d cmd=%s", msg.chat_jid, msg.seq, cmd.name)
    answer(conn, msg, group, text)
    return text
