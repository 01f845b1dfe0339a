"""The bus: every name the daemons use to talk to each other through the database — message
verbs and senders with a meaning, and the `router_state` keys with who writes and reads them.
docs/architecture.md lists them on one page; nothing outside this module spells them out."""

from __future__ import annotations

from typing import Final, Literal, Protocol

# -- verbs of `messages.verb` ------------------------------------------------------------------

Verb = Literal["message", "task", "ignored"]
MESSAGE: Final[Verb] = "message"  # what a person wrote (every channel); the default
TASK: Final[Verb] = "task"  # a prompt for a folder's agent: timed's schedule, or a delegation
IGNORED: Final[Verb] = "ignored"  # stored but never answered (auto-mail, bounces, loops)
# Verbs no agent and no onboarding answer.
UNANSWERED_VERBS: Final = frozenset({IGNORED})

# -- senders and sources with a meaning ---------------------------------------------------------

SCHEDULER_SENDER: Final = "scheduler"  # `sender` of timed's task messages
SCHEDULER_SOURCE: Final = "timed"  # `source` of timed's task messages
ONBOARDING_SENDER: Final = "onbod"  # `sender` and `source` of onbod's messages to strangers
# `sender` of the task messages gated posts for an agent's `delegate` tool (`source` 'gated'):
# the delegate folder's agent answers in the delegating chat.
DELEGATE_SENDER: Final = "delegate"
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
AGENT_INFLIGHT_PREFIX: Final = "agent_inflight:"
TASK_INFLIGHT_PREFIX: Final = "task_inflight:"
DELIVERY_PARTS_PREFIX: Final = "delivery_parts:"
EMAIL_CURSOR_PREFIX: Final = "email:imap:"


def agent_cursor(jid: str) -> str:
    """The last seq of chat `jid` fed to its agent (gated; onbod sets it when it registers)."""
    return AGENT_CURSOR_PREFIX + jid


def task_cursor(folder: str, topic: str) -> str:
    """The last task message of (folder, topic) fed to its agent (gated)."""
    return f"{TASK_CURSOR_PREFIX}{folder}:{topic}"


def agent_inflight(jid: str) -> str:
    """The open agent run of chat `jid`: its batch, owner and pid (gated)."""
    return AGENT_INFLIGHT_PREFIX + jid


def task_inflight(folder: str, topic: str) -> str:
    """The open agent run of (folder, topic)'s task messages (gated)."""
    return f"{TASK_INFLIGHT_PREFIX}{folder}:{topic}"


def delivery_parts(seq: int) -> str:
    """How many parts of outbound message `seq` were delivered (gated's delivery)."""
    return f"{DELIVERY_PARTS_PREFIX}{seq}"


def email_cursor(user: str, host: str, port: int, folder: str) -> str:
    """UIDVALIDITY and last UID read of one IMAP folder (gated's email channel)."""
    return f"{EMAIL_CURSOR_PREFIX}{user}@{host}:{port}/{folder}"
