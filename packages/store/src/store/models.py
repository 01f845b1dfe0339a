"""Typed rows and inputs that cross the store's boundary."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from store.dbapi import Row

OutboxStatus = Literal["pending", "sending", "sent", "failed", "dead"]
SandboxMode = Literal["auto", "bwrap", "none"]
StdinMode = Literal["batch", "stream"]
NetworkMode = Literal["none", "proxy", "full"]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store; `timestamp` defaults to now when empty."""

    id: str
    chat_jid: str
    content: str
    sender: str = ""
    sender_name: str = ""
    timestamp: str = ""
    verb: str = "message"
    source: str = ""
    group_folder: str | None = None
    topic: str = ""
    is_from_me: bool = False
    reply_to_id: str | None = None
    attachments: list[dict[str, Any]] | None = None
    chat_name: str = ""
    is_group: bool = False
    mentions_bot: bool = False  # the platform says it @-mentions the bot (a trigger)
    target_id: str | None = None  # verb edit/delete: the id of the message it changes
    traceparent: str | None = None  # W3C traceparent of the span storing it (tracing on)


@dataclass(frozen=True, slots=True)
class PutResult:
    """Where a message was stored; `duplicate` when (chat_jid, id) already existed."""

    seq: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Message:
    seq: int
    id: str
    chat_jid: str
    sender: str
    sender_name: str
    content: str
    timestamp: str
    verb: str
    source: str
    group_folder: str | None
    topic: str
    is_from_me: bool
    reply_to_id: str | None
    attachments: list[dict[str, Any]]
    mentions_bot: bool = False
    target_id: str | None = None
    traceparent: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Message:
        return cls(
            seq=row["seq"],
            id=row["id"],
            chat_jid=row["chat_jid"],
            sender=row["sender"],
            sender_name=row["sender_name"],
            content=row["content"],
            timestamp=row["timestamp"],
            verb=row["verb"],
            source=row["source"],
            group_folder=row["group_folder"],
            topic=row["topic"],
            is_from_me=bool(row["is_from_me"]),
            reply_to_id=row["reply_to_id"],
            attachments=json.loads(row["attachments"]) if row["attachments"] else [],
            mentions_bot=bool(row["mentions_bot"]),
            target_id=row["target_id"],
            traceparent=row["traceparent"],
        )


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed outbound message with what a sender needs to deliver it."""

    seq: int
    id: str
    chat_jid: str
    channel: str
    content: str
    group_folder: str | None
    topic: str
    reply_to_id: str | None
    status: OutboxStatus
    attempts: int
    next_attempt_at: str
    last_error: str | None
    attachments: list[dict[str, Any]] = field(default_factory=list)  # stored files to send
    remote_id: str | None = None  # the id the channel gave it, once sent
    traceparent: str | None = None  # the span that stored it: delivery continues its trace


@dataclass(frozen=True, slots=True)
class Chat:
    jid: str
    name: str
    channel: str
    is_group: bool
    errored: bool
    consecutive_failures: int
    last_message_at: str | None

    @classmethod
    def from_row(cls, row: Row) -> Chat:
        return cls(
            jid=row["jid"],
            name=row["name"],
            channel=row["channel"],
            is_group=bool(row["is_group"]),
            errored=bool(row["errored"]),
            consecutive_failures=row["consecutive_failures"],
            last_message_at=row["last_message_at"],
        )


@dataclass(frozen=True, slots=True)
class Group:
    """A registered chat: which folder answers it (the agent is the folder's: FolderSettings)."""

    jid: str
    folder: str
    name: str
    trigger_word: str
    requires_trigger: bool
    parent: str | None
    is_operator: bool
    created_at: str

    @classmethod
    def from_row(cls, row: Row) -> Group:
        return cls(
            jid=row["jid"],
            folder=row["folder"],
            name=row["name"],
            trigger_word=row["trigger_word"],
            requires_trigger=bool(row["requires_trigger"]),
            parent=row["parent"],
            is_operator=bool(row["is_operator"]),
            created_at=row["created_at"],
        )


@dataclass(frozen=True, slots=True)
class Mount:
    """A host directory or file bound into a group's sandbox."""

    host_path: str  # absolute, resolved
    inside_path: str  # absolute path inside the sandbox
    writable: bool = False


@dataclass(frozen=True, slots=True)
class FolderSettings:
    """A group's settings (one row per folder; the seed's container_config)."""

    folder: str
    command: str | None = None  # None: gated's --default-agent
    timeout_s: float | None = None  # None: gated's --agent-timeout
    sandbox: SandboxMode = "auto"
    network: NetworkMode = "none"
    allow_hosts: tuple[str, ...] = ()  # "host", "*.suffix", optional ":port"
    mounts: tuple[Mount, ...] = ()
    memory_mb: int = 1024
    pids: int = 256
    cpu_s: int = 600
    disk_mb: int = 1024
    env: tuple[tuple[str, str], ...] = ()  # sorted (NAME, value) pairs
    secrets: tuple[str, ...] = ()  # secret names granted to the group
    # What the group's agent may do through its tools beyond its own chats (gated.tools).
    grants_send_to: tuple[str, ...] = ()  # chats (jids) or folders it may message
    grants_delegate_to: tuple[str, ...] = ()  # folders it may hand a prompt to
    grants_operator: bool = False  # the operator tools (groups, routes, onboarding)
    stdin: StdinMode = "batch"  # 'stream': new messages reach the running agent as lines
    # What the folder's runs may cost (US dollars, as agents report it) per UTC day / month;
    # None: no budget. Over it, no run starts (gated.budgets).
    budget_usd_day: float | None = None
    budget_usd_month: float | None = None


@dataclass(frozen=True, slots=True)
class Route:
    id: int
    jid: str
    seq: int
    type: str
    match: str
    target: str

    @classmethod
    def from_row(cls, row: Row) -> Route:
        return cls(
            id=row["id"],
            jid=row["jid"],
            seq=row["seq"],
            type=row["type"],
            match=row["match"],
            target=row["target"],
        )


@dataclass(frozen=True, slots=True)
class SystemMessage:
    id: int
    group_folder: str
    origin: str
    event: str
    body: str
    created_at: str


@dataclass(frozen=True, slots=True)
class SessionRun:
    """A session_log row."""

    id: int
    group_folder: str
    topic: str
    chat_jid: str | None
    session_id: str | None
    started_at: str
    ended_at: str | None
    result: str | None
    error: str | None
    work_key: str | None  # 'chat:<jid>' / 'task:<folder>:<topic>'; None before run records
    sandbox: str | None  # what the agent ran under: 'bwrap', 'none', 'unconfined:<reason>'
    limit_hit: str | None  # memory, pids, cpu, disk, timeout; None when no limit was hit


@dataclass(frozen=True, slots=True)
class Daemon:
    name: str
    pid: int | None
    host: str
    version: str
    started_at: str | None
    heartbeat_at: str | None
    stopped_at: str | None
    info: dict[str, Any] = field(default_factory=dict)
    pid_start: str | None = None  # with host and pid, the process (store.liveness)
    instance: str | None = None  # the random id its leases name
