"""What crosses the kit/platform boundary: the channel's capabilities, one inbound message with
its files, one decoded /send part with its files. Plain frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

Format = Literal[
    "plain",
    "markdown",
    "telegram_markdown_v2",
    "slack_mrkdwn",
    "matrix_html",
    "discord_markdown",
]
FORMATS: Final[tuple[str, ...]] = get_args(Format)
Verb = Literal["message", "edit", "delete"]
VERBS: Final[tuple[str, ...]] = get_args(Verb)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the platform can do, sent to gated with every registration (protocol v1.1)."""

    max_text: int
    files_in: bool
    files_out: bool
    max_file_bytes: int
    threads: bool
    typing: bool
    edits: bool
    format: Format

    def to_json(self) -> dict[str, Any]:
        return {
            "max_text": self.max_text,
            "files_in": self.files_in,
            "files_out": self.files_out,
            "max_file_bytes": self.max_file_bytes,
            "threads": self.threads,
            "typing": self.typing,
            "edits": self.edits,
            "format": self.format,
        }


@dataclass(frozen=True, slots=True)
class InFile:
    """A file a user sent, already downloaded from the platform."""

    name: str
    type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message (or edit, or deletion) from the platform, for gated's POST /v1/messages."""

    chat_jid: str
    id: str
    content: str
    sender: str | None = None
    sender_name: str | None = None
    timestamp: datetime | None = None
    reply_to_id: str | None = None
    chat_name: str | None = None
    is_group: bool = False
    thread_id: str | None = None
    mentions_bot: bool = False
    from_bot: bool = False
    verb: Verb = "message"
    target_id: str | None = None
    files: tuple[InFile, ...] = ()


@dataclass(frozen=True, slots=True)
class OutFile:
    """A file of a reply, decoded from /send's base64 (name and type come from an agent:
    untrusted, never a path)."""

    name: str
    type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Outbound:
    """One /send part, decoded and checked."""

    chat_jid: str
    id: str
    idempotency_key: str
    part: int
    parts: int
    text: str
    format: str
    plain: str
    reply_to_id: str | None
    thread_id: str | None
    files: tuple[OutFile, ...]

    @property
    def remote_chat(self) -> str:
        """The platform's chat id: the jid after its `<prefix>:`."""
        return self.chat_jid.partition(":")[2]
