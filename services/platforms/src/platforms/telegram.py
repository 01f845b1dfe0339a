"""`switchboard-telegram`: the Telegram adapter on python-telegram-bot 22. Long polling with
getUpdates; the offset is persisted only after gated stored every update before it. Replies go
out with sendMessage in MarkdownV2 (plain text when Telegram cannot parse it), files with
sendDocument; a 429's retry_after is passed to gated. The token comes from TELEGRAM_BOT_TOKEN."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from datetime import timedelta
from typing import Final

from adapterkit import (
    AdapterConfig,
    Capabilities,
    InFile,
    Outbound,
    PermanentFailure,
    Sink,
    Stopping,
    TemporaryFailure,
    TokenRejected,
    run,
)
from adapterkit.gated_client import backoff
from daemonkit import settings
from store import log_safe
from telegram import Bot, InputFile, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from platforms.telegram_updates import PREFIX, BotIdentity, FileRef, chat_id_of, incoming

log = logging.getLogger(__name__)

TOKEN_ENV: Final = "TELEGRAM_BOT_TOKEN"  # noqa: S105 (a variable name)
API_URL: Final = "https://api.telegram.org/bot"
FILE_URL: Final = "https://api.telegram.org/file/bot"
OFFSET_KEY: Final = "telegram.offset"
POLL_TIMEOUT_S: Final = 30
# Bots may download files of at most 20 MB through getFile.
MAX_FILE_BYTES: Final = 20 * 1024 * 1024
CAPABILITIES: Final = Capabilities(
    max_text=4096,
    files_in=True,
    files_out=True,
    max_file_bytes=MAX_FILE_BYTES,
    threads=True,
    typing=True,
    edits=True,
    format="telegram_markdown_v2",
)
ALLOWED_UPDATES: Final = ["message", "edited_message"]
UNPARSEABLE: Final = "can't parse entities"
DESCRIPTION: Final = (
    "Switchboard's Telegram adapter: long-polls the Bot API for messages, posts them to gated, "
    "and serves gated's /send, /typing and /health."
)


def seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramPlatform:
    """The Platform for one bot."""

    name = PREFIX
    capabilities = CAPABILITIES

    def __init__(self, config: AdapterConfig) -> None:
        self.poll_timeout = int(config.options.get("poll_timeout", POLL_TIMEOUT_S))
        self.bot = Bot(
            config.token,
            base_url=str(config.options.get("api_url", API_URL)),
            base_file_url=str(config.options.get("file_url", FILE_URL)),
            request=HTTPXRequest(connection_pool_size=8, read_timeout=20.0),
            get_updates_request=HTTPXRequest(read_timeout=10.0),
        )
        self.identity: BotIdentity | None = None
        self.poller: asyncio.Task[None] | None = None
        self.problem: str | None = "not started"

    async def start(self, sink: Sink) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.bot.initialize()
                break
            except InvalidToken:
                # PTB's own message repeats the token: never log it.
                raise TokenRejected(
                    f"Telegram rejected the bot token (401 on getMe): check {TOKEN_ENV}"
                ) from None
            except TelegramError as exc:
                wait = backoff(attempt)
                log.warning("Telegram not reachable (getMe): %s next_try_in=%.1fs", exc, wait)
                await asyncio.sleep(wait)
        me = self.bot.bot
        self.identity = BotIdentity(me.id, me.username or "")
        self.problem = None
        log.info("connected to Telegram as @%s id=%d", me.username, me.id)
        self.poller = asyncio.create_task(self.poll(sink), name="telegram-poll")

    async def poll(self, sink: Sink) -> None:
        """getUpdates forever; each update delivered, then the offset after it persisted."""
        assert self.identity is not None
        attempt = 0
        while True:
            offset = int(sink.state.get(OFFSET_KEY) or 0)
            try:
                updates = await self.bot.get_updates(
                    offset=offset or None,
                    timeout=self.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                )
            except RetryAfter as exc:
                self.problem = f"rate-limited by Telegram: {exc}"
                await asyncio.sleep(seconds(exc.retry_after))
                continue
            except InvalidToken:
                attempt += 1
                self.problem = "Telegram rejected the bot token"
                log.error("Telegram rejected the bot token (getUpdates): check %s", TOKEN_ENV)
                await asyncio.sleep(backoff(attempt, 5.0, 300.0))
                continue
            except TelegramError as exc:
                attempt += 1
                wait = backoff(attempt)
                self.problem = f"getUpdates failed: {exc}"
                log.warning("getUpdates failed: %s next_try_in=%.1fs", exc, wait)
                await asyncio.sleep(wait)
                continue
            attempt = 0
            self.problem = None
            for update in updates:
                found = incoming(update, self.identity)
                if found is not None:
                    files: list[InFile] = []
                    for ref in found.files:
                        got = await self.download(ref)
                        if got is not None:
                            files.append(got)
                    msg = dataclasses.replace(found.msg, files=tuple(files)) if files else found.msg
                    try:
                        await sink.deliver(msg)
                    except Stopping:
                        return  # not stored: the offset stays before this update
                sink.state.set(OFFSET_KEY, str(update.update_id + 1))

    async def download(self, ref: FileRef) -> InFile | None:
        """The file's bytes via getFile, unless over the cap (None; the message still goes)."""
        if ref.size is not None and ref.size > MAX_FILE_BYTES:
            log.warning(
                "file over the cap, not fetched file=%s size=%d", log_safe(ref.name), ref.size
            )
            return None
        for attempt in range(1, 4):
            try:
                file = await self.bot.get_file(ref.file_id)
                if file.file_size is not None and file.file_size > MAX_FILE_BYTES:
                    log.warning("file over the cap, not fetched file=%s", log_safe(ref.name))
                    return None
                data = bytes(await file.download_as_bytearray())
                if len(data) > MAX_FILE_BYTES:
                    log.warning("file over the cap, dropped file=%s", log_safe(ref.name))
                    return None
                return InFile(name=ref.name, type=ref.type, data=data)
            except BadRequest as exc:
                log.warning("file not fetched file=%s: %s", log_safe(ref.name), exc)
                return None
            except TelegramError as exc:
                log.warning(
                    "file fetch failed file=%s try=%d: %s", log_safe(ref.name), attempt, exc
                )
                await asyncio.sleep(backoff(attempt))
        return None

    async def send(self, msg: Outbound) -> str | None:
        chat_id = chat_id_of(msg.chat_jid)
        if chat_id is None:
            raise PermanentFailure(f"chat_jid {msg.chat_jid[:80]!r} is not a Telegram chat")
        thread = int(msg.thread_id) if msg.thread_id and msg.thread_id.isdigit() else None
        reply = (
            ReplyParameters(int(msg.reply_to_id), allow_sending_without_reply=True)
            if msg.reply_to_id and msg.reply_to_id.isdigit()
            else None
        )
        try:
            remote: str | None = None
            if msg.text.strip():
                remote = await self.send_text(chat_id, msg, thread, reply)
            for f in msg.files:
                sent = await self.bot.send_document(
                    chat_id,
                    InputFile(f.data, filename=f.name, attach=True),
                    filename=f.name,
                    message_thread_id=thread,
                )
                remote = remote or str(sent.message_id)
            return remote
        except RetryAfter as exc:
            raise TemporaryFailure(str(exc), retry_after=seconds(exc.retry_after)) from None
        except (Forbidden, ChatMigrated) as exc:
            raise PermanentFailure(f"Telegram refused: {exc}") from None
        except BadRequest as exc:
            raise PermanentFailure(f"Telegram refused: {exc}") from None
        except InvalidToken:
            raise TemporaryFailure("Telegram rejected the bot token") from None
        except (TimedOut, NetworkError) as exc:
            raise TemporaryFailure(f"Telegram unreachable: {exc}") from None

    async def send_text(
        self, chat_id: int, msg: Outbound, thread: int | None, reply: ReplyParameters | None
    ) -> str:
        if msg.format == "telegram_markdown_v2":
            try:
                sent = await self.bot.send_message(
                    chat_id,
                    msg.text,
                    parse_mode=ParseMode.MARKDOWN_V2,
                    message_thread_id=thread,
                    reply_parameters=reply,
                )
                return str(sent.message_id)
            except BadRequest as exc:
                if UNPARSEABLE not in str(exc).lower():
                    raise
                log.info(
                    "Telegram could not parse the MarkdownV2, sending plain chat=%s: %s",
                    msg.chat_jid,
                    exc,
                )
        sent = await self.bot.send_message(
            chat_id, msg.plain, message_thread_id=thread, reply_parameters=reply
        )
        return str(sent.message_id)

    async def typing(self, chat_jid: str, thread_id: str | None) -> None:
        chat_id = chat_id_of(chat_jid)
        if chat_id is None:
            return
        thread = int(thread_id) if thread_id and thread_id.isdigit() else None
        await self.bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread)

    async def health(self) -> str | None:
        return self.problem

    async def stop(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
            await asyncio.gather(self.poller, return_exceptions=True)
        try:
            await self.bot.shutdown()
        except TelegramError as exc:
            log.debug("bot shutdown: %s", exc)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings.add_setting(
        parser,
        "--api-url",
        env="TELEGRAM_API_URL",
        parse=settings.text,
        default=API_URL,
        metavar="URL",
        help=f"the Bot API base (a local Bot API server); default {API_URL}",
    )
    settings.add_setting(
        parser,
        "--file-url",
        env="TELEGRAM_FILE_URL",
        parse=settings.text,
        default=FILE_URL,
        metavar="URL",
        help=f"the Bot API file base; default {FILE_URL}",
    )
    settings.add_setting(
        parser,
        "--poll-timeout",
        env="TELEGRAM_POLL_TIMEOUT",
        parse=settings.integer(0, 50),
        default=POLL_TIMEOUT_S,
        metavar="S",
        help=f"getUpdates long-poll seconds; default {POLL_TIMEOUT_S}",
    )


def main(argv: list[str] | None = None) -> None:
    sys.exit(
        run(
            TelegramPlatform,
            argv,
            name=PREFIX,
            token_env=TOKEN_ENV,
            description=DESCRIPTION,
            add_arguments=add_arguments,
            prog="switchboard-telegram",
        )
    )


if __name__ == "__main__":
    main()
