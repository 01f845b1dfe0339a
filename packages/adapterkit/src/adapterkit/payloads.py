"""The JSON of the two directions, as pure functions: an `Inbound` as gated's POST /v1/messages
body (made acceptable: unsafe characters replaced, lengths cut), and a /send body checked and
decoded into an `Outbound` (base64 files, their size cap and sha256)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Final

import store
from store import validate

from adapterkit.model import Inbound, Outbound, OutFile

MAX_SHORT: Final = validate.MAX_SHORT_TEXT
MAX_CONTENT_BYTES: Final = validate.MAX_CONTENT_BYTES
MAX_THREAD_ID: Final = 255
REPLACEMENT: Final = "\ufffd"
DELETED: Final = "(deleted)"
NO_TEXT: Final = "(no text)"


class BadSend(ValueError):
    """A /send body gated should never send: answered 400 naming the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def display_text(value: str, limit: int = MAX_SHORT) -> str:
    """A name as gated accepts it: no control or bidi characters, at most `limit` chars."""
    return validate.CONTROL_RE.sub(REPLACEMENT, value)[:limit]


def identifier_text(value: str, limit: int = MAX_SHORT) -> str:
    """An id as gated accepts it: no control, bidi or invisible characters."""
    return validate.INVISIBLE_RE.sub(REPLACEMENT, value)[:limit]


def cut_utf8(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def content_of(msg: Inbound) -> str:
    """The content gated stores: the text; for a file without a caption the files' names
    (gated refuses empty content); for a deletion `(deleted)` when there is none."""
    if msg.content.strip():
        return cut_utf8(msg.content, MAX_CONTENT_BYTES)
    if msg.verb == "delete":
        return DELETED
    if msg.files:
        return " ".join(f"[{display_text(f.name, 200)}]" for f in msg.files)
    return NO_TEXT


def inbound_payload(msg: Inbound, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """POST /v1/messages body for `msg` (v1.1 fields included: gated v1.0 ignores them)."""
    body: dict[str, Any] = {
        "chat_jid": msg.chat_jid,
        "id": identifier_text(msg.id),
        "content": content_of(msg),
        "is_group": msg.is_group,
    }
    optional = {
        "sender": None if msg.sender is None else identifier_text(msg.sender),
        "sender_name": None if msg.sender_name is None else display_text(msg.sender_name),
        "chat_name": None if msg.chat_name is None else display_text(msg.chat_name),
        "reply_to_id": None if msg.reply_to_id is None else identifier_text(msg.reply_to_id),
        "timestamp": None if msg.timestamp is None else store.iso(msg.timestamp),
        "thread_id": None if msg.thread_id is None else display_text(msg.thread_id, 255),
        "target_id": None if msg.target_id is None else identifier_text(msg.target_id),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if msg.mentions_bot:
        body["mentions_bot"] = True
    if msg.from_bot:
        body["from_bot"] = True
    if msg.verb != "message":
        body["verb"] = msg.verb
    if attachments:
        body["attachments"] = attachments
    return body


def _field(body: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise BadSend(name, "is missing")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadSend(name, f"must be {kind.__name__}, not {type(value).__name__}")
    return value


def decode_send(body: object, channel: str, max_file_bytes: int) -> Outbound:
    """A /send body (v1.0 or v1.1) as an `Outbound`; BadSend naming the field otherwise.
    v1.0 bodies have no idempotency_key (it is then `<id>:<part>`), format or plain."""
    if not isinstance(body, dict):
        raise BadSend("body", "must be a JSON object")
    chat_jid = _field(body, "chat_jid", str)
    if not chat_jid.startswith(f"{channel}:") or len(chat_jid) == len(channel) + 1:
        raise BadSend("chat_jid", f"{chat_jid[:80]!r} is not a {channel}: chat")
    msg_id = _field(body, "id", str)
    text = _field(body, "text", str)
    part = _field(body, "part", int, required=False) or 1
    parts = _field(body, "parts", int, required=False) or 1
    if not 1 <= part <= parts:
        raise BadSend("part", f"{part} of {parts} is not a part")
    key = _field(body, "idempotency_key", str, required=False) or f"{msg_id}:{part}"
    if not 0 < len(key) <= 1024:
        raise BadSend("idempotency_key", "must be 1..1024 characters")
    fmt = _field(body, "format", str, required=False) or "plain"
    plain = _field(body, "plain", str, required=False)
    thread_id = _field(body, "thread_id", str, required=False)
    if thread_id is not None and not 0 < len(thread_id) <= MAX_THREAD_ID:
        raise BadSend("thread_id", f"must be 1..{MAX_THREAD_ID} characters")
    files = tuple(
        decode_file(item, i, max_file_bytes)
        for i, item in enumerate(_field(body, "attachments", list, required=False) or [])
    )
    return Outbound(
        chat_jid=chat_jid,
        id=msg_id,
        idempotency_key=key,
        part=part,
        parts=parts,
        text=text,
        format=fmt if fmt == "plain" or plain is not None else "plain",
        plain=text if plain is None else plain,
        reply_to_id=_field(body, "reply_to_id", str, required=False),
        thread_id=thread_id,
        files=files,
    )


def decode_file(item: object, index: int, max_file_bytes: int) -> OutFile:
    """One /send attachment: base64 `data` decoded, within the cap, matching its sha256."""
    where = f"attachments[{index}]"
    if not isinstance(item, dict):
        raise BadSend(where, "must be an object")
    name = item.get("name")
    data = item.get("data")
    if not isinstance(name, str) or not name:
        raise BadSend(f"{where}.name", "must be a non-empty string")
    if not isinstance(data, str):
        raise BadSend(f"{where}.data", "must be base64 text (a file without data cannot be sent)")
    if len(data) > (max_file_bytes + 2) // 3 * 4 + 4:
        raise BadSend(f"{where}.data", f"the file is over this channel's {max_file_bytes} bytes")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadSend(f"{where}.data", "is not valid base64") from None
    if len(raw) > max_file_bytes:
        raise BadSend(f"{where}.data", f"the file is over this channel's {max_file_bytes} bytes")
    digest = item.get("sha256")
    if isinstance(digest, str) and digest and hashlib.sha256(raw).hexdigest() != digest.lower():
        raise BadSend(f"{where}.sha256", "does not match the data")
    kind = item.get("type")
    return OutFile(
        name=display_text(name, 255),
        type=kind if isinstance(kind, str) and kind else "application/octet-stream",
        data=raw,
    )
