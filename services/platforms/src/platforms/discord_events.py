"""What a Discord gateway event means for gated, as pure functions: the jid `discord:<channel>`,
a thread as thread_id under its parent channel, mentions of the bot, whose message it is (only
people's are taken: the bot's own echo and other bots' or webhooks' are dropped), edits,
deletions, attachments."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import discord
from adapterkit import Inbound

PREFIX: Final = "discord"
MAX_SNOWFLAKE_DIGITS: Final = 20
# Kinds of message a person writes; joins, pins, thread-created notices and the like are not.
SPOKEN: Final = frozenset({discord.MessageType.default, discord.MessageType.reply})

Author = Literal["own", "bot", "person"]


@dataclass(frozen=True, slots=True)
class Where:
    """The chat a Discord channel stands for: a thread's parent with the thread as thread_id."""

    chat_id: int
    thread_id: str | None
    is_group: bool
    chat_name: str | None


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """A file of a message, to download from its URL."""

    url: str
    name: str
    type: str
    size: int  # as Discord announced it


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message as an Inbound without its files, and the files to fetch for it."""

    msg: Inbound
    files: tuple[AttachmentRef, ...]


def jid_of(channel_id: int) -> str:
    return f"{PREFIX}:{channel_id}"


def snowflake(text: str | None) -> int | None:
    """A Discord id from text, or None when it is not one (digits, at most 20)."""
    if text is None or not text.isascii() or not text.isdigit():
        return None
    if len(text) > MAX_SNOWFLAKE_DIGITS:
        return None
    return int(text)


def channel_id_of(chat_jid: str) -> int | None:
    """`discord:123` -> 123; None for anything that is not a Discord channel id."""
    prefix, _, rest = chat_jid.partition(":")
    return snowflake(rest) if prefix == PREFIX else None


def where_of(channel: object) -> Where | None:
    """The chat of a channel the library knows; None when only its id is known (a channel
    the cache has not seen: the caller fetches it)."""
    if isinstance(channel, discord.Thread):
        if channel.parent_id is None:
            return None
        parent = channel.parent
        return Where(channel.parent_id, str(channel.id), True, getattr(parent, "name", None))
    if isinstance(channel, discord.DMChannel):
        recipient = channel.recipient
        return Where(channel.id, None, False, recipient.name if recipient else None)
    if isinstance(channel, discord.GroupChannel):
        return Where(channel.id, None, True, channel.name)
    if isinstance(channel, discord.abc.GuildChannel):
        return Where(channel.id, None, True, channel.name)
    return None


def author_of(message: discord.Message, bot_id: int) -> Author:
    if message.author.id == bot_id:
        return "own"
    if message.author.bot or message.webhook_id is not None:
        return "bot"
    return "person"


def mentions_bot(message: discord.Message, bot_id: int) -> bool:
    """The bot is @-mentioned, or the message answers one of the bot's (a reply pings its
    author by default, which puts the bot in `mentions` too; this also covers a reply that
    does not ping). @everyone and role mentions do not count."""
    if any(user.id == bot_id for user in message.mentions):
        return True
    ref = message.reference
    resolved = ref.resolved if ref is not None else None
    return isinstance(resolved, discord.Message) and resolved.author.id == bot_id


def reply_of(message: discord.Message) -> str | None:
    ref = message.reference
    if ref is None or ref.message_id is None:
        return None
    return str(ref.message_id)


def files_of(message: discord.Message) -> tuple[AttachmentRef, ...]:
    return tuple(
        AttachmentRef(
            url=a.url,
            name=a.filename,
            type=a.content_type or "application/octet-stream",
            size=a.size,
        )
        for a in message.attachments
    )


def edit_id(message_id: int, edited_at: datetime | None) -> str:
    """An edit's own id (one per edit: the message id and the edit's time in ms)."""
    stamp = int(edited_at.timestamp() * 1000) if edited_at is not None else 0
    return f"{message_id}:edit:{stamp}"


def _inbound(message: discord.Message, where: Where, bot_id: int) -> Inbound:
    author = message.author
    return Inbound(
        chat_jid=jid_of(where.chat_id),
        id=str(message.id),
        content=message.clean_content,
        sender=str(author.id),
        sender_name=author.display_name,
        timestamp=message.created_at,
        reply_to_id=reply_of(message),
        chat_name=where.chat_name,
        is_group=where.is_group,
        thread_id=where.thread_id,
        mentions_bot=mentions_bot(message, bot_id),
    )


def incoming(message: discord.Message, where: Where, bot_id: int) -> Incoming | None:
    """A new message for gated; None for one it does not take: the bot's own (Discord echoes
    every message the bot posts; gated stored the reply already, and a gated that does not
    know `from_bot` would answer it: a loop), another bot's or a webhook's (two bots answering
    each other), a system notice."""
    if message.type not in SPOKEN or author_of(message, bot_id) != "person":
        return None
    return Incoming(_inbound(message, where, bot_id), files_of(message))


def edit_of(message: discord.Message, where: Where, bot_id: int) -> Inbound | None:
    """An edit (a MESSAGE_UPDATE with an edited_timestamp) as verb edit of its message; None
    for updates that are not edits (embeds resolved, pins) and for bots' edits."""
    if message.edited_at is None or message.type not in SPOKEN:
        return None
    if author_of(message, bot_id) != "person":
        return None
    return dataclasses.replace(
        _inbound(message, where, bot_id),
        id=edit_id(message.id, message.edited_at),
        timestamp=message.edited_at,
        verb="edit",
        target_id=str(message.id),
        mentions_bot=False,
    )


def deletion(message_id: int, where: Where) -> Inbound:
    """A MESSAGE_DELETE as verb delete of its message (Discord says nothing of its author)."""
    return Inbound(
        chat_jid=jid_of(where.chat_id),
        id=f"{message_id}:delete",
        content="",
        is_group=where.is_group,
        chat_name=where.chat_name,
        thread_id=where.thread_id,
        verb="delete",
        target_id=str(message_id),
    )
