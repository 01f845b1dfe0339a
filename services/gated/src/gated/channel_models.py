"""The channel API's request and response bodies, with the limits and patterns the server
enforces written into their JSON schema (so `/openapi.json` describes what is accepted)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from store import blobs, validate
from store.clock import EARLIEST, LATEST

from gated.filenames import MAX_NAME_CHARS, MAX_TYPE_CHARS
from gated.formatting import Format
from gated.registration import (
    CHANNEL_NAME_PATTERN,
    MAX_FILE_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_PREFIXES,
    MAX_SEND_SECRET,
    MAX_URL_CHARS,
    MIN_MESSAGE_CHARS,
    MIN_SEND_SECRET,
    RESERVED_CHANNELS,
    SEND_SECRET_PATTERN,
    URL_PATTERN,
)
from gated.split import DEFAULT_MAX_CHARS
from gated.threads import MAX_THREAD_ID

MAX_TIMESTAMP_CHARS: Final = 64
SHA256_PATTERN: Final = blobs.SHA256_RE.pattern
InboundVerb = Literal["message", "edit", "delete"]


def schema_pattern(python_pattern: str) -> str:
    """A whole-value Python pattern as a JSON Schema one: anchored, and with `\\U0001xxxx`
    escapes (which ECMA-262 lacks) written as the characters themselves."""
    body = re.sub(r"\\U([0-9a-fA-F]{8})", lambda m: chr(int(m.group(1), 16)), python_pattern)
    return f"^{body}$"


def _text(pattern: str, max_length: int, min_length: int = 0, **doc: Any) -> Any:
    return Field(
        min_length=min_length,
        max_length=max_length,
        json_schema_extra={"pattern": schema_pattern(pattern), **doc},
    )


JID_PATTERN: Final = validate.JID_RE.pattern
IDENTIFIER_PATTERN: Final = f"[^{validate.UNSAFE_TEXT_CHARS}{validate.FORMAT_CHARS}]*"
DISPLAY_PATTERN: Final = f"[^{validate.UNSAFE_TEXT_CHARS}]*"
SHORT: Final = validate.MAX_SHORT_TEXT

ChannelName = Annotated[
    str,
    Field(
        json_schema_extra={
            "pattern": schema_pattern(CHANNEL_NAME_PATTERN),
            "not": {"enum": sorted(RESERVED_CHANNELS)},
        }
    ),
]
JidPrefix = Annotated[
    str,
    Field(
        json_schema_extra={
            "pattern": schema_pattern(CHANNEL_NAME_PATTERN + ":?"),
            "not": {"enum": sorted(RESERVED_CHANNELS | {f"{c}:" for c in RESERVED_CHANNELS})},
        }
    ),
]


class Capabilities(BaseModel):
    """What a protocol 1.1 adapter's platform can do (`capabilities` of its registration).
    Keys gated does not know (a later protocol's) are ignored."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    max_text: Annotated[
        int | None,
        Field(
            ge=MIN_MESSAGE_CHARS,
            le=MAX_MESSAGE_CHARS,
            description="longest text /send accepts, after formatting; replaces max_message_chars",
        ),
    ] = None
    files_in: bool = False
    files_out: bool = False
    max_file_bytes: Annotated[int | None, Field(ge=1, le=MAX_FILE_BYTES)] = None
    threads: bool = False
    typing: bool = False
    edits: bool = False
    format: Format = "plain"


class RegisterIn(BaseModel):
    """Body of POST /v1/channels/register."""

    model_config = ConfigDict(strict=True)

    name: ChannelName
    url: Annotated[
        str,
        Field(
            max_length=MAX_URL_CHARS,
            json_schema_extra={
                "pattern": schema_pattern(URL_PATTERN),
                "description": "http(s) base URL; no credentials, port 1..65535",
            },
        ),
    ]
    jid_prefixes: Annotated[
        list[JidPrefix],
        Field(
            max_length=MAX_PREFIXES,
            json_schema_extra={"description": "extra prefixes; a trailing ':' is dropped"},
        ),
    ] = []
    max_message_chars: Annotated[int, Field(ge=MIN_MESSAGE_CHARS, le=MAX_MESSAGE_CHARS)] = (
        DEFAULT_MAX_CHARS
    )
    protocol: Literal["1.0", "1.1"] = "1.0"
    send_secret: Annotated[
        str | None,
        Field(
            min_length=MIN_SEND_SECRET,
            max_length=MAX_SEND_SECRET,
            json_schema_extra={
                "pattern": schema_pattern(SEND_SECRET_PATTERN),
                "description": "protocol 1.1, required: gated sends it as Authorization: Bearer",
            },
        ),
    ] = None
    capabilities: Capabilities | None = None


class RegisterOut(BaseModel):
    name: str
    token: str
    jid_prefixes: list[str]
    max_message_chars: int
    protocol: str
    capabilities: Capabilities | None = None  # protocol 1.1 only: what gated stored


class MessageIn(BaseModel):
    """Body of POST /v1/messages: one inbound chat message."""

    model_config = ConfigDict(strict=True)

    chat_jid: Annotated[str, _text(JID_PATTERN, 32 + 1 + 255)]
    id: Annotated[str, _text(IDENTIFIER_PATTERN, SHORT, min_length=1)]
    # Required unless verb is `delete` (checked by gated.inbound; "" is never accepted).
    content: Annotated[
        str,
        Field(
            min_length=1,
            max_length=validate.MAX_CONTENT_BYTES,
            json_schema_extra={
                "pattern": r"\S",
                "description": f"at most {validate.MAX_CONTENT_BYTES} bytes of UTF-8; "
                "required unless verb is `delete`",
            },
        ),
    ] = ""
    sender: Annotated[str | None, _text(IDENTIFIER_PATTERN, SHORT)] = None
    sender_name: Annotated[str | None, _text(DISPLAY_PATTERN, SHORT)] = None
    timestamp: Annotated[
        str | None,
        Field(
            max_length=MAX_TIMESTAMP_CHARS,
            json_schema_extra={
                "description": (
                    "ISO-8601 time with a zone (e.g. 2026-11-23T09:00:00Z or +01:00 offsets), "
                    f"{EARLIEST.year}..{LATEST.year - 1}; stored as "
                    "UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`. Default: now"
                )
            },
        ),
    ] = None
    reply_to_id: Annotated[str | None, _text(IDENTIFIER_PATTERN, SHORT)] = None
    chat_name: Annotated[str | None, _text(DISPLAY_PATTERN, SHORT)] = None
    is_group: bool = False
    attachments: Annotated[
        list[dict[str, Any]] | None,
        Field(
            json_schema_extra={
                "description": "protocol 1.0: metadata objects; 1.1: "
                "`{sha256, name, type, size}` of a file uploaded with POST /v1/files"
            }
        ),
    ] = None
    # Protocol 1.1 (all optional).
    thread_id: Annotated[str | None, _text(IDENTIFIER_PATTERN, MAX_THREAD_ID, min_length=1)] = None
    mentions_bot: bool = False
    from_bot: bool = False
    verb: InboundVerb = "message"
    target_id: Annotated[str | None, _text(IDENTIFIER_PATTERN, SHORT, min_length=1)] = None


class FileAttachmentIn(BaseModel):
    """A protocol 1.1 entry of `attachments`: a file uploaded with POST /v1/files."""

    model_config = ConfigDict(strict=True)

    sha256: Annotated[str, Field(json_schema_extra={"pattern": schema_pattern(SHA256_PATTERN)})]
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
    type: Annotated[str, Field(max_length=MAX_TYPE_CHARS)] = ""
    size: Annotated[int, Field(ge=0)]


class FileStored(BaseModel):
    """Answer of POST /v1/files."""

    sha256: str
    size: int
    type: str


class MessageAccepted(BaseModel):
    seq: int
    duplicate: bool


class ErrorOut(BaseModel):
    error: str
    field: str | None
