"""What a Slack Events API payload means for gated, as pure functions: the jid
`slack:<team>:<channel>`, thread_ts as thread_id, mentions of the bot, the bot's own messages
(dropped), edits and deletions, and which files to fetch; plus the escaping of outgoing text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from adapterkit import Inbound

PREFIX: Final = "slack"
# Slack ids: team T…/E…, channel C…/G…/D…, user U…/W…, bot B…; upper-case letters and digits.
ID_RE: Final = re.compile(r"[A-Z0-9]{1,32}")
TS_RE: Final = re.compile(r"\d{1,12}\.\d{1,9}")
# Message subtypes that are a person's (or another app's) message; the rest (joins, topic
# changes, …) are not conversation and are not posted.
MESSAGE_SUBTYPES: Final = frozenset(
    {None, "file_share", "thread_broadcast", "bot_message", "me_message"}
)
# <!channel>, <!here>, <!everyone>, <!subteam^S123|@team>, <!date…>: broadcasts an agent must
# not be able to send.
SPECIAL_MENTION_RE: Final = re.compile(r"<!([^<>]*)>")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is, from auth.test."""

    team_id: str
    user_id: str  # the bot user (U…)
    bot_id: str  # the bot (B…)


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file of a message, to look up with files.info and download."""

    file_id: str
    name: str
    type: str
    size: int | None  # as the event announced it


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event as an Inbound without its files, and the files to fetch for it."""

    msg: Inbound
    files: tuple[FileRef, ...]


def jid_of(team: str, channel: str) -> str:
    return f"{PREFIX}:{team}:{channel}"


def channel_of(chat_jid: str) -> str | None:
    """`slack:T1:C2` -> `C2`; None for anything that is not a Slack chat of ours."""
    prefix, _, rest = chat_jid.partition(":")
    team, _, channel = rest.partition(":")
    if prefix != PREFIX or not ID_RE.fullmatch(team) or not ID_RE.fullmatch(channel):
        return None
    return channel


def valid_ts(value: object) -> str | None:
    return value if isinstance(value, str) and TS_RE.fullmatch(value) else None


def timestamp_of(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def mentions(text: str, bot: BotIdentity) -> bool:
    """`<@U_BOT>` or `<@U_BOT|name>` in the text."""
    return f"<@{bot.user_id}>" in text or f"<@{bot.user_id}|" in text


def is_own(message: dict[str, Any], bot: BotIdentity) -> bool:
    """Posted by this bot (its bot_id, or its bot user)."""
    return message.get("bot_id") == bot.bot_id or message.get("user") == bot.user_id


def files_of(message: dict[str, Any]) -> tuple[FileRef, ...]:
    refs: list[FileRef] = []
    for f in message.get("files") or []:
        if not isinstance(f, dict) or not isinstance(f.get("id"), str):
            continue
        if not ID_RE.fullmatch(f["id"]) or f.get("mode") in ("tombstone", "hidden_by_limit"):
            continue
        size = f.get("size")
        refs.append(
            FileRef(
                file_id=f["id"],
                name=str(f.get("name") or f.get("title") or f["id"]),
                type=str(f.get("mimetype") or "application/octet-stream"),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            )
        )
    return tuple(refs)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def incoming(payload: dict[str, Any], bot: BotIdentity) -> Incoming | None:
    """An events_api payload (`event_callback`) as a message for gated; None for what gated
    does not take (other events, joins, unfurls, the bot's own messages, malformed events)."""
    if payload.get("type") != "event_callback":
        return None
    event = payload.get("event")
    if not isinstance(event, dict) or event.get("type") not in ("message", "app_mention"):
        return None
    channel = event.get("channel")
    team = event.get("team") if isinstance(event.get("team"), str) else payload.get("team_id")
    if not isinstance(channel, str) or not ID_RE.fullmatch(channel):
        return None
    if not isinstance(team, str) or not ID_RE.fullmatch(team):
        return None
    chat_jid = jid_of(team, channel)
    is_group = event.get("channel_type") != "im" and not channel.startswith("D")
    subtype = event.get("subtype")
    if subtype == "message_changed":
        return _edit(event, chat_jid, is_group, bot)
    if subtype == "message_deleted":
        return _deletion(event, chat_jid, is_group, bot)
    if subtype not in MESSAGE_SUBTYPES or is_own(event, bot):
        return None
    ts = valid_ts(event.get("ts"))
    if ts is None:
        return None
    text = _text(event.get("text"))
    thread = valid_ts(event.get("thread_ts"))
    msg = Inbound(
        chat_jid=chat_jid,
        id=ts,
        content=text,
        sender=_str(event.get("user")) or _str(event.get("bot_id")),
        sender_name=_str(event.get("username")),
        timestamp=timestamp_of(ts),
        is_group=is_group,
        thread_id=thread,
        mentions_bot=event.get("type") == "app_mention" or mentions(text, bot),
    )
    return Incoming(msg, files_of(event))


def _edit(
    event: dict[str, Any], chat_jid: str, is_group: bool, bot: BotIdentity
) -> Incoming | None:
    """A real edit (the message has `edited`): unfurls and reply counts change a message too."""
    message = event.get("message")
    if not isinstance(message, dict) or is_own(message, bot):
        return None
    edited = message.get("edited")
    target = valid_ts(message.get("ts"))
    if not isinstance(edited, dict) or target is None:
        return None
    stamp = valid_ts(edited.get("ts")) or valid_ts(event.get("event_ts")) or target
    text = _text(message.get("text"))
    msg = Inbound(
        chat_jid=chat_jid,
        id=f"{target}:edit:{stamp}",
        content=text,
        sender=_str(message.get("user")),
        timestamp=timestamp_of(stamp),
        is_group=is_group,
        thread_id=valid_ts(message.get("thread_ts")),
        verb="edit",
        target_id=target,
    )
    return Incoming(msg, ())


def _deletion(
    event: dict[str, Any], chat_jid: str, is_group: bool, bot: BotIdentity
) -> Incoming | None:
    target = valid_ts(event.get("deleted_ts"))
    previous = event.get("previous_message")
    if target is None or (isinstance(previous, dict) and is_own(previous, bot)):
        return None
    stamp = valid_ts(event.get("event_ts")) or valid_ts(event.get("ts"))
    thread = valid_ts(previous.get("thread_ts")) if isinstance(previous, dict) else None
    msg = Inbound(
        chat_jid=chat_jid,
        id=f"{target}:delete",
        content="",
        timestamp=timestamp_of(stamp) if stamp else None,
        is_group=is_group,
        thread_id=thread,
        verb="delete",
        target_id=target,
    )
    return Incoming(msg, ())


def escape_plain(text: str) -> str:
    """Plain text for Slack: the three characters Slack parses as markup escaped, so no
    `<!channel>` or `<@U…>` from an agent pings anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def defuse_mrkdwn(text: str) -> str:
    """mrkdwn as given, except special mentions (`<!channel>`, `<!here>`, `<!everyone>`, user
    groups) shown as text instead of notifying a whole channel."""
    return SPECIAL_MENTION_RE.sub(lambda m: f"&lt;!{m.group(1)}&gt;", text)
