"""What a Matrix room event means for gated, as pure functions on the raw event JSON: the jid
`matrix:<room_id>`, threads (m.thread) as thread_id, mentions of the bot (m.mentions, its id or
display name in the body), edits (m.replace), redactions, files to fetch, and what the bot sends
(m.text with org.matrix.custom.html, in a thread with the reply fallback)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from adapterkit import Inbound

PREFIX: Final = "matrix"
# A room id is `!<opaque>:<server name>`, or since room version 12 `!<hash of the create
# event>` with no server name; printable ASCII without spaces either way, at most 255.
ROOM_ID_RE: Final = re.compile(r"![!-~]{1,254}")
FILE_MSGTYPES: Final = frozenset({"m.file", "m.image", "m.audio", "m.video"})
HTML_FORMAT: Final = "org.matrix.custom.html"
MATRIX_TO: Final = "https://matrix.to/#/"
# The reply fallback some clients still put before the body: `> <@user> quoted` lines, a blank.
REPLY_FALLBACK_RE: Final = re.compile(r"\A(?:>[^\n]*\n)+\n?")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    user_id: str  # @bot:server
    display_name: str | None


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """What the client knows of the room an event came from."""

    name: str | None
    members: int  # joined members
    sender_name: str | None  # the sender's display name in the room


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file of a message, to fetch from the media repository."""

    mxc: str
    name: str
    type: str
    size: int | None  # as the sender announced it (never trusted for the cap)


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event as an Inbound without its files, and the files to fetch for it."""

    msg: Inbound
    files: tuple[FileRef, ...]


def jid_of(room_id: str) -> str:
    """The room id is used as it is: gated's jids allow `!` and `:` after the prefix."""
    return f"{PREFIX}:{room_id}"


def room_id_of(chat_jid: str) -> str | None:
    """`matrix:!abc:example.org` -> `!abc:example.org`; None for anything else."""
    prefix, _, rest = chat_jid.partition(":")
    if prefix != PREFIX or not ROOM_ID_RE.fullmatch(rest):
        return None
    return rest


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def timestamp_of(event: dict[str, Any]) -> datetime | None:
    ts = event.get("origin_server_ts")
    if not isinstance(ts, int) or isinstance(ts, bool) or ts <= 0:
        return None
    try:
        return datetime.fromtimestamp(ts / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def mentions(content: dict[str, Any], bot: BotIdentity) -> bool:
    """m.mentions names the bot, or the body or HTML names its user id or display name."""
    named = _dict(content.get("m.mentions")).get("user_ids")
    if isinstance(named, list) and bot.user_id in named:
        return True
    body = content.get("body") if isinstance(content.get("body"), str) else ""
    html = content.get("formatted_body") if isinstance(content.get("formatted_body"), str) else ""
    text = f"{body}\n{html}".casefold()
    if bot.user_id.casefold() in text or f"{MATRIX_TO}{bot.user_id}".casefold() in text:
        return True
    name = (bot.display_name or "").strip()
    if len(name) < 2:
        return False
    return re.search(rf"(?<!\w){re.escape(name.casefold())}(?!\w)", text) is not None


def strip_reply_fallback(body: str) -> str:
    """The body without the quoted reply fallback (spec before v1.13)."""
    return REPLY_FALLBACK_RE.sub("", body, count=1)


def thread_of(relates: dict[str, Any]) -> str | None:
    """The thread root's event id of an m.thread relation."""
    if relates.get("rel_type") == "m.thread":
        return _str(relates.get("event_id"))
    return None


def reply_of(relates: dict[str, Any]) -> str | None:
    """The event answered; a thread's fallback reply (is_falling_back) is not an answer."""
    if relates.get("rel_type") == "m.thread" and relates.get("is_falling_back") is True:
        return None
    return _str(_dict(relates.get("m.in_reply_to")).get("event_id"))


def file_of(content: dict[str, Any], event_id: str) -> FileRef | None:
    """The file of an m.file/m.image/m.audio/m.video message (unencrypted: `url`)."""
    if content.get("msgtype") not in FILE_MSGTYPES:
        return None
    url = _str(content.get("url"))
    if url is None or not url.startswith("mxc://"):
        return None
    info = _dict(content.get("info"))
    size = info.get("size")
    name = _str(content.get("filename")) or _str(content.get("body")) or f"file-{event_id[1:13]}"
    return FileRef(
        mxc=url,
        name=name,
        type=_str(info.get("mimetype")) or "application/octet-stream",
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )


def text_of(content: dict[str, Any], has_reply: bool) -> str:
    """The words of a message: the body (a file's body is its caption only when `filename`
    differs from it)."""
    body = content.get("body")
    if not isinstance(body, str):
        return ""
    if content.get("msgtype") in FILE_MSGTYPES:
        filename = _str(content.get("filename"))
        return body if filename is not None and body != filename else ""
    return strip_reply_fallback(body) if has_reply else body


def incoming(
    room_id: str, event: dict[str, Any], bot: BotIdentity, room: RoomInfo
) -> Incoming | None:
    """The event as a message for gated; None for kinds gated does not take (state events,
    reactions, encrypted or redacted events) and for the bot's own events."""
    event_id = _str(event.get("event_id"))
    sender = _str(event.get("sender"))
    kind = event.get("type")
    if event_id is None or sender is None or sender == bot.user_id or "state_key" in event:
        return None
    content = _dict(event.get("content"))
    base = Inbound(
        chat_jid=jid_of(room_id),
        id=event_id,
        content="",
        sender=sender,
        sender_name=room.sender_name,
        timestamp=timestamp_of(event),
        chat_name=room.name,
        is_group=room.members > 2,
    )
    if kind == "m.room.redaction":
        # Room v11 moved `redacts` into the content.
        target = _str(content.get("redacts")) or _str(event.get("redacts"))
        if target is None:
            return None
        return Incoming(replace(base, verb="delete", target_id=target), ())
    if kind != "m.room.message" or not content:
        return None
    relates = _dict(content.get("m.relates_to"))
    if relates.get("rel_type") == "m.replace":
        target = _str(relates.get("event_id"))
        new = _dict(content.get("m.new_content"))
        if target is None or not new:
            return None
        msg = replace(
            base,
            content=text_of(new, False),
            mentions_bot=mentions(new, bot),
            verb="edit",
            target_id=target,
        )
        return Incoming(msg, ())
    reply_to = reply_of(relates)
    ref = file_of(content, event_id)
    msg = replace(
        base,
        content=text_of(content, reply_to is not None),
        reply_to_id=reply_to,
        thread_id=thread_of(relates),
        mentions_bot=mentions(content, bot),
    )
    return Incoming(msg, () if ref is None else (ref,))


def relation(thread_id: str | None, reply_to_id: str | None) -> dict[str, Any] | None:
    """m.relates_to of a message the bot sends: in the thread (with the reply fallback to the
    message answered, else the root), or a plain reply, or none."""
    if thread_id:
        return {
            "rel_type": "m.thread",
            "event_id": thread_id,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": reply_to_id or thread_id},
        }
    if reply_to_id:
        return {"m.in_reply_to": {"event_id": reply_to_id}}
    return None


def text_content(
    text: str, fmt: str, plain: str, thread_id: str | None, reply_to_id: str | None
) -> dict[str, Any]:
    """An m.text message: `plain` as the body, `text` as HTML when the format is matrix_html."""
    content: dict[str, Any] = {"msgtype": "m.text", "body": plain if fmt != "plain" else text}
    if fmt == "matrix_html":
        content["format"] = HTML_FORMAT
        content["formatted_body"] = text
    rel = relation(thread_id, reply_to_id)
    if rel is not None:
        content["m.relates_to"] = rel
    return content


def file_content(
    mxc: str, name: str, kind: str, size: int, thread_id: str | None, reply_to_id: str | None
) -> dict[str, Any]:
    """An m.file (m.image for images) message for an uploaded file."""
    content: dict[str, Any] = {
        "msgtype": "m.image" if kind.startswith("image/") else "m.file",
        "body": name,
        "filename": name,
        "url": mxc,
        "info": {"mimetype": kind, "size": size},
    }
    rel = relation(thread_id, reply_to_id)
    if rel is not None:
        content["m.relates_to"] = rel
    return content


def txn_id(idempotency_key: str, index: int) -> str:
    """The transaction id of a part's `index`-th event: the homeserver de-duplicates a resend
    with the same one (for a while), so a crash between sending and recording posts once."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8", "replace")).hexdigest()[:40]
    return f"sb{digest}.{index}"
