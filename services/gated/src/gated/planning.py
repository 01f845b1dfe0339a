"""Planning agent runs (pure reads): which work key has a batch ready, which messages it takes,
which folder/topic and agent answer it. The gateway loop starts what is planned here."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from typing import Any, Final

import store
from store import (
    CarriedMessage,
    FolderSettings,
    Group,
    Message,
    OpenRun,
    WorkKey,
    bus,
    liveness,
    validate,
)
from store.messages import pending_task_messages

from gated.agent import agent_argv
from gated.commands import TOPIC_RE, parse_command
from gated.config import Config
from gated.inbox import agent_attachments
from gated.routing import contains_word, route

# Chats whose messages open a topic with a leading `#topic ` (adapters have threads instead).
TOPIC_PREFIX_CHANNELS: Final = frozenset({"web", "cli"})
TOPIC_PREFIX_RE: Final = re.compile(r"#(\S+)\s")
BATCH_LIMIT = 200  # input messages handed to one run (older context beyond it is skipped)
PAGE = 1000

Target = tuple[str, str]  # (group folder, topic)


@dataclass(frozen=True, slots=True)
class Plan:
    """A batch ready to run: its work key, who answers it and the messages it takes."""

    key: WorkKey
    folder: str
    topic: str
    chat_jid: str
    messages: list[Message]
    group: Group | None
    carried_system_messages: tuple[CarriedMessage, ...] = ()
    owed: OpenRun | None = None  # our open row that owes this batch a re-run (else a new run)


def select_batch(items: list[tuple[Message, Target | None]]) -> tuple[int, Target] | None:
    """Pure batch rule: the first targeted message fixes the run's (folder, topic); the batch
    runs through the last message with that target before one with another target. Returns
    (index of the batch's last message, target), or None when nothing starts a run."""
    target: Target | None = None
    end = -1
    for i, (_msg, t) in enumerate(items):
        if t is None:
            continue
        if target is None:
            target, end = t, i
        elif t == target:
            end = i
        else:
            break
    return None if target is None else (end, target)


def agent_settings(
    cfg: Config, settings: FolderSettings
) -> tuple[list[str], float, dict[str, str]]:
    """argv, timeout and extra env of a folder's agent (its settings, else gated's defaults)."""
    command = settings.command or cfg.default_agent
    timeout = settings.timeout_s or cfg.agent_timeout_s
    return agent_argv(command), float(timeout), dict(settings.env)


def next_plan(conn: sqlite3.Connection, key: WorkKey, scanned: int) -> Plan | None:
    """The next run of a work key from the database alone (so a restart resumes it); only
    messages the gateway has scanned (seq <= `scanned`) are considered. A key with an open run
    (one owed a re-run) gets exactly that run's batch again, with its system messages."""
    cursor_text = store.get_state(conn, key.cursor_key)
    if cursor_text is None:
        return None
    open_run = store.open_run_of(conn, key)
    upper = scanned if open_run is None else min(scanned, open_run.batch_end)
    carried = open_run.system_messages if open_run else ()
    if key.kind == bus.TASK_WORK:
        plan = plan_task(conn, key, int(cursor_text), upper, carried)
    else:
        plan = plan_chat(conn, key, int(cursor_text), upper, carried)
    if plan is None or open_run is None:
        return plan
    owed = open_run.owner == liveness.me().token and not open_run.launched
    return replace(plan, owed=open_run if owed else None)


def chat_messages(conn: sqlite3.Connection, jid: str, cursor: int, upper: int) -> Iterator[Message]:
    """A chat's messages with cursor < seq <= upper, oldest first, read page by page."""
    while True:
        page = store.messages_since(conn, jid, cursor, PAGE)
        for m in page:
            if m.seq > upper:
                return
            yield m
        if len(page) < PAGE:
            return
        cursor = page[-1].seq


def payload_message(m: Message, placed: Collection[str] = ()) -> dict[str, Any]:
    """A message as the agent protocol hands it to an agent; its uploaded files under
    `attachments`, with their path when `placed` (gated.inbox) holds it."""
    out: dict[str, Any] = {
        "seq": m.seq,
        "id": m.id,
        "sender": m.sender,
        "sender_name": m.sender_name,
        "content": m.content,
        "timestamp": m.timestamp,
        "verb": m.verb,
    }
    files = agent_attachments(m, placed)
    if files:
        out["attachments"] = files
    return out


def session_topic(m: Message) -> str:
    """The session topic a message goes to: its own (an adapter's thread's), else in a web or
    cli chat the topic a leading `#topic ` names (the prefix stays in the content), else ''."""
    if m.topic or validate.channel_of(m.chat_jid) not in TOPIC_PREFIX_CHANNELS:
        return m.topic
    prefix = TOPIC_PREFIX_RE.match(m.content)
    if prefix is not None and TOPIC_RE.fullmatch(prefix.group(1)):
        return prefix.group(1)
    return m.topic


def is_trigger(m: Message, group: Group) -> bool:
    """Whether a message starts a run of its group: always, unless the group requires a
    trigger; then its trigger word, or the platform saying the bot was @-mentioned."""
    if not group.requires_trigger:
        return True
    return m.mentions_bot or contains_word(m.content, group.trigger_word)


def follow_ups(
    conn: sqlite3.Connection, key: WorkKey, fed_upto: int, scanned: int, folder: str, topic: str
) -> list[Message]:
    """What a streaming run of a chat should be handed next: the chat's batch after
    `fed_upto` when it is for the run's own (folder, topic); else nothing (it waits for the
    next run)."""
    if key.kind != "chat" or scanned <= fed_upto:
        return []
    plan = plan_chat(conn, key, fed_upto, scanned, ())
    if plan is None or (plan.folder, plan.topic) != (folder, topic):
        return []
    return plan.messages


def plan_chat(
    conn: sqlite3.Connection,
    key: WorkKey,
    cursor: int,
    upper: int,
    carried: tuple[CarriedMessage, ...],
) -> Plan | None:
    """A registered chat's next batch: context + triggered messages for one (folder, topic)."""
    group = store.get_group(conn, key.jid)
    if group is None:
        return None
    routes = store.routes_for(conn, key.jid)
    items: list[tuple[Message, Target | None]] = []
    target: Target | None = None
    for m in chat_messages(conn, key.jid, cursor, upper):
        if m.is_from_me or m.verb == bus.TASK or m.verb in bus.UNANSWERED_VERBS:
            continue
        if parse_command(m.content) is not None:
            continue
        t = (route(m, routes, group.folder), session_topic(m)) if is_trigger(m, group) else None
        if target is not None and t is not None and t != target:
            break
        target = target or t
        items.append((m, t))
        if target is not None and len(items) >= BATCH_LIMIT:
            break
    chosen = select_batch(items)
    if chosen is None:
        return None
    end, (folder, topic) = chosen
    batch = [m for m, _ in items[: end + 1]][-BATCH_LIMIT:]
    return Plan(key, folder, topic, key.jid, batch, group, carried)


def plan_task(
    conn: sqlite3.Connection,
    key: WorkKey,
    cursor: int,
    upper: int,
    carried: tuple[CarriedMessage, ...],
) -> Plan | None:
    """The next scheduled-task messages of a (folder, topic), for one chat at a time."""
    folder, topic = key.folder, key.topic
    msgs = pending_task_messages(conn, folder, topic, cursor, upper)
    if not msgs:
        return None
    jid = msgs[0].chat_jid
    batch = []
    for m in msgs:
        if m.chat_jid != jid:
            break
        batch.append(m)
    group = store.get_group(conn, jid)
    if group is None or group.folder != folder:
        same = store.groups_for_folder(conn, folder)
        group = same[0] if same else None
    return Plan(key, folder, topic, jid, batch, group, carried)
