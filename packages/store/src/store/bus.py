"""The bus: every name the daemons use to talk to each other through the database — message
verbs and senders with a meaning, the `router_state` keys with who writes and reads them, and
the work keys of agent runs. docs/architecture.md lists them on one page; nothing outside this
module spells them out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Protocol

from store.errors import InvalidInput

# -- verbs of `messages.verb` ------------------------------------------------------------------

Verb = Literal["message", "task", "ignored", "edit", "delete"]
MESSAGE: Final[Verb] = "message"  # what a person wrote (every channel); the default
TASK: Final[Verb] = "task"  # a prompt for a folder's agent: timed's schedule, or a delegation
IGNORED: Final[Verb] = "ignored"  # stored but never answered (auto-mail, bounces, loops)
# A chat platform's record that a message (`target_id`) was edited / deleted (protocol 1.1).
EDIT: Final[Verb] = "edit"
DELETE: Final[Verb] = "delete"
# Verbs no agent and no onboarding answer.
UNANSWERED_VERBS: Final = frozenset({IGNORED, EDIT, DELETE})

# -- senders and sources with a meaning ---------------------------------------------------------

SCHEDULER_SENDER: Final = "scheduler"  # `sender` of timed's task messages
SCHEDULER_SOURCE: Final = "timed"  # `source` of timed's task messages
ONBOARDING_SENDER: Final = "onbod"  # `sender` and `source` of onbod's messages to strangers
# `sender` of the task messages gated posts for an agent's `delegate` tool (`source` 'gated'):
# the delegate folder's agent answers in the delegating chat.
DELEGATE_SENDER: Final = "delegation"
DELEGATE_SOURCE: Final = "gated"


class HasVerbAndSender(Protocol):
    @property
    def verb(self) -> str: ...
    @property
    def sender(self) -> str: ...


def is_scheduled_task(msg: HasVerbAndSender) -> bool:
    """A task message posted by timed (a chat cannot forge one: adapters post only `message`)."""
    return msg.verb == TASK and msg.sender == SCHEDULER_SENDER


def is_delegation(msg: HasVerbAndSender) -> bool:
    """A task message gated posted for an agent's `delegate` tool."""
    return msg.verb == TASK and msg.sender == DELEGATE_SENDER


def delegate_topic(folder: str) -> str:
    """The topic of what `folder` delegated: one serial line of work per delegator."""
    return f"delegate:{folder}"


# -- router_state keys ------------------------------------------------------------------------

GATEWAY_CURSOR: Final = "gated:cursor"  # the last seq gated's scan has looked at
ONBOARDING_CURSOR: Final = "onbod:cursor"  # the last seq onbod has handled
AGENT_CURSOR_PREFIX: Final = "agent_cursor:"
TASK_CURSOR_PREFIX: Final = "task_cursor:"
# Before core migration m004 an open agent run was a JSON record under these keys; m004 moves
# them into session_log (store.runs) and nothing writes them since.
LEGACY_AGENT_INFLIGHT_PREFIX: Final = "agent_inflight:"
LEGACY_TASK_INFLIGHT_PREFIX: Final = "task_inflight:"
DELIVERY_PARTS_PREFIX: Final = "delivery_parts:"
EMAIL_CURSOR_PREFIX: Final = "email:imap:"


def agent_cursor(jid: str) -> str:
    """The last seq of chat `jid` fed to its agent (gated; onbod sets it when it registers)."""
    return AGENT_CURSOR_PREFIX + jid


def task_cursor(folder: str, topic: str) -> str:
    """The last task message of (folder, topic) fed to its agent (gated)."""
    return f"{TASK_CURSOR_PREFIX}{folder}:{topic}"


def delivery_parts(seq: int) -> str:
    """How many parts of outbound message `seq` were delivered (gated's delivery)."""
    return f"{DELIVERY_PARTS_PREFIX}{seq}"


def email_cursor(user: str, host: str, port: int, folder: str) -> str:
    """UIDVALIDITY and last UID read of one IMAP folder (gated's email channel)."""
    return f"{EMAIL_CURSOR_PREFIX}{user}@{host}:{port}/{folder}"


# -- work keys: `session_log.work_key` ----------------------------------------------------------

WorkKind = Literal["chat", "task"]
CHAT_WORK: Final[WorkKind] = "chat"
TASK_WORK: Final[WorkKind] = "task"


@dataclass(frozen=True, slots=True)
class WorkKey:
    """A unit of gated's serial work: a registered chat, or the task messages of a (folder,
    topic). Its text, `chat:<jid>` or `task:<folder>:<topic>`, names the work in
    `session_log.work_key`; `parse` reads it back (a jid and a topic may hold ':', a folder
    may not)."""

    kind: WorkKind
    jid: str = ""  # kind 'chat': the chat
    folder: str = ""  # kind 'task': the group folder
    topic: str = ""  # kind 'task': the session topic ('' = default)

    @classmethod
    def chat(cls, jid: str) -> WorkKey:
        return cls(CHAT_WORK, jid=jid)

    @classmethod
    def task(cls, folder: str, topic: str) -> WorkKey:
        return cls(TASK_WORK, folder=folder, topic=topic)

    @classmethod
    def parse(cls, text: str, field: str = "work_key") -> WorkKey:
        """The work key a text names; InvalidInput when it names none."""
        kind, sep, rest = text.partition(":")
        if sep and kind == CHAT_WORK and rest:
            return cls.chat(rest)
        if sep and kind == TASK_WORK:
            folder, sep, topic = rest.partition(":")
            if sep and folder:
                return cls.task(folder, topic)
        raise InvalidInput(
            field, f"{text[:80]!r} is not a work key ('chat:<jid>' or 'task:<folder>:<topic>')"
        )

    @classmethod
    def of_cursor(cls, key: str) -> WorkKey | None:
        """The work key whose cursor is router_state `key`; None for any other key."""
        if key.startswith(AGENT_CURSOR_PREFIX):
            return cls.parse(CHAT_WORK + ":" + key.removeprefix(AGENT_CURSOR_PREFIX), "key")
        if key.startswith(TASK_CURSOR_PREFIX):
            return cls.parse(TASK_WORK + ":" + key.removeprefix(TASK_CURSOR_PREFIX), "key")
        return None

    def __str__(self) -> str:
        if self.kind == CHAT_WORK:
            return f"{CHAT_WORK}:{self.jid}"
        return f"{TASK_WORK}:{self.folder}:{self.topic}"

    @property
    def cursor_key(self) -> str:
        """The router_state key of the work's cursor (the last seq fed to its agent)."""
        if self.kind == CHAT_WORK:
            return agent_cursor(self.jid)
        return task_cursor(self.folder, self.topic)
