"""What a Telegram update means for gated, as pure functions: the jid `tg:<chat_id>`, the
forum topic as thread_id, mentions of the bot, the bot's own messages, edits, and which files
(largest photo, document) to fetch under the size cap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from adapterkit import Inbound
from telegram import Message, MessageEntity, Update

PREFIX: Final = "tg"


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: int
    username: str  # without the @


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file of a message, to fetch with getFile."""

    file_id: str
    name: str
    type: str
    size: int | None  # as Telegram announced it


@dataclass(frozen=True, slots=True)
class Incoming:
    """An update as an Inbound without its files, and the files to fetch for it."""

    msg: Inbound
    files: tuple[FileRef, ...]


def jid_of(chat_id: int) -> str:
    return f"{PREFIX}:{chat_id}"


def chat_id_of(chat_jid: str) -> int | None:
    """`tg:-100123` -> -100123; None for anything that is not a Telegram chat id."""
    prefix, _, rest = chat_jid.partition(":")
    if prefix != PREFIX or not rest.lstrip("-").isdigit() or len(rest) > 32:
        return None
    return int(rest)


def mentions(message: Message, bot: BotIdentity) -> bool:
    """The bot is @-mentioned (text or caption), text-mentioned, or the message answers it."""
    handle = f"@{bot.username}".lower()
    for entity, text in {
        **message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]),
        **message.parse_caption_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]),
    }.items():
        if entity.type == MessageEntity.MENTION and text.lower() == handle:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot.id)


def thread_of(message: Message) -> str | None:
    """The forum topic a message is in (only real topics: a reply's thread in a plain group is
    not one)."""
    if message.is_topic_message and message.message_thread_id is not None:
        return str(message.message_thread_id)
    return None


def reply_of(message: Message) -> str | None:
    """The message answered; in a topic, not the topic's own first message (every message of
    the topic "answers" it)."""
    replied = message.reply_to_message
    if replied is None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None
    return str(replied.message_id)


def files_of(message: Message) -> tuple[FileRef, ...]:
    refs: list[FileRef] = []
    if message.photo:
        best = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        refs.append(
            FileRef(best.file_id, f"photo-{message.message_id}.jpg", "image/jpeg", best.file_size)
        )
    if message.document:
        doc = message.document
        refs.append(
            FileRef(
                doc.file_id,
                doc.file_name or f"document-{message.message_id}",
                doc.mime_type or "application/octet-stream",
                doc.file_size,
            )
        )
    return tuple(refs)


def edit_id(message: Message) -> str:
    """An edit's own id (unique per edit: the message id and the edit's time)."""
    stamp = int(message.edit_date.timestamp()) if message.edit_date else 0
    return f"{message.message_id}:edit:{stamp}"


def incoming(update: Update, bot: BotIdentity) -> Incoming | None:
    """The update as a message for gated; None for kinds gated does not take."""
    edited = update.edited_message is not None
    message = update.edited_message or update.message
    if message is None:
        return None
    chat = message.chat
    sender = message.from_user
    chat_name = chat.title or chat.full_name or chat.username
    msg_id = str(message.message_id)
    msg = Inbound(
        chat_jid=jid_of(chat.id),
        id=f"{msg_id}:edit:{int(message.edit_date.timestamp())}"
        if edited and message.edit_date
        else (f"{msg_id}:edit" if edited else msg_id),
        content=message.text or message.caption or "",
        sender=str(sender.id) if sender else None,
        sender_name=sender.full_name if sender else None,
        timestamp=(message.edit_date or message.date) if edited else message.date,
        reply_to_id=reply_of(message),
        chat_name=chat_name,
        is_group=chat.type in (chat.GROUP, chat.SUPERGROUP),
        thread_id=thread_of(message),
        mentions_bot=mentions(message, bot),
        from_bot=bool(sender and sender.id == bot.id),
        verb="edit" if edited else "message",
        target_id=msg_id if edited else None,
    )
    return Incoming(msg, () if edited else files_of(message))
