"""What an adapter's posted message is stored as (adapter protocol 1.0 and 1.1): its verb and
target, a bot echo kept as our own, a mention, its thread's topic, and its attachments — an
uploaded file's entry is checked against files/ and names the file."""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from pydantic import ValidationError
from store import InvalidInput, NewMessage, blobs, bus, validate
from store.messages import message_params

from gated import filenames, threads
from gated.channel_models import FileAttachmentIn, MessageIn

DELETED_CONTENT: Final = "(deleted)"
MAX_FILES: Final = 20  # uploaded files one message may carry


def inbound_message(
    conn: sqlite3.Connection, source: str, req: MessageIn
) -> tuple[NewMessage, str | None]:
    """The message to store for `req` from channel `source`, validated (InvalidInput names the
    field), and the thread id whose topic it takes (remembered by the caller when it stores
    it). Reads files/ only."""
    content = req.content
    if req.verb == bus.DELETE:
        content = content or DELETED_CONTENT
    elif not content:
        raise InvalidInput("content", "Field required")
    if req.verb == bus.MESSAGE and req.target_id is not None:
        raise InvalidInput("target_id", "only an edit or a delete has a target")
    if req.verb != bus.MESSAGE and req.target_id is None:
        raise InvalidInput("target_id", f"a {req.verb} needs the id of the message it changes")
    topic = ""
    if req.thread_id is not None:
        topic = threads.topic_name(validate.identifier(req.thread_id, "thread_id"))
    msg = NewMessage(
        id=req.id,
        chat_jid=req.chat_jid,
        content=content,
        sender=req.sender or "",
        sender_name=req.sender_name or "",
        timestamp=req.timestamp or "",
        verb=req.verb,
        source=source,
        topic=topic,
        # The bot's own message, echoed by the platform: ours, so nothing answers it.
        is_from_me=req.from_bot,
        reply_to_id=req.reply_to_id,
        attachments=attachments(conn, req.attachments),
        chat_name=req.chat_name or "",
        is_group=req.is_group,
        # Only a person's new message can be a trigger (planning skips the rest anyway).
        mentions_bot=req.mentions_bot and not req.from_bot and req.verb == bus.MESSAGE,
        target_id=req.target_id,
    )
    message_params(msg)  # every check the store makes, before the thread is remembered
    return msg, req.thread_id


def attachments(
    conn: sqlite3.Connection, entries: list[dict[str, Any]] | None
) -> list[dict[str, Any]] | None:
    """A message's attachments as stored: a 1.1 entry (it has `sha256`) becomes the stored
    file's entry (`blobs.file_entry`) once the file is checked; a 1.0 entry stays metadata
    (a `file` key in it is dropped: only an uploaded, checked file is ever named)."""
    if not entries:
        return entries
    out: list[dict[str, Any]] = []
    files = 0
    for i, entry in enumerate(entries):
        if "sha256" not in entry:
            out.append({k: v for k, v in entry.items() if k != "file"})
            continue
        files += 1
        if files > MAX_FILES:
            raise InvalidInput("attachments", f"at most {MAX_FILES} files per message")
        out.append(stored_file(conn, i, entry))
    return out


def stored_file(conn: sqlite3.Connection, i: int, entry: dict[str, Any]) -> dict[str, Any]:
    """The stored-file entry of a 1.1 attachment, else InvalidInput('attachments')."""
    try:
        ref = FileAttachmentIn.model_validate(entry)
        name = filenames.file_name(ref.name, "name")
        media = filenames.media_type(ref.type, "type")
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput("attachments", f"entry {i} {where}: {err['msg']}") from None
    except InvalidInput as exc:
        raise InvalidInput("attachments", f"entry {i} {exc}") from None
    if not blobs.SHA256_RE.fullmatch(ref.sha256):
        raise InvalidInput("attachments", f"entry {i} sha256: not a lower-case sha256 hex digest")
    size = blobs.blob_size(conn, ref.sha256)
    if size is None:
        raise InvalidInput(
            "attachments", f"entry {i}: no uploaded file has sha256 {ref.sha256}; POST /v1/files"
        )
    if size != ref.size:
        raise InvalidInput(
            "attachments", f"entry {i} size: {ref.size}, but the uploaded file has {size} bytes"
        )
    return blobs.file_entry(name, media, size, ref.sha256)
