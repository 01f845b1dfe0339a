"""`switchboard-discord`: the Discord adapter on discord.py 2. The gateway's messages, edits and
deletions go to gated one at a time in order; each channel's last stored message id is kept, so
a restart fetches what came meanwhile. Replies go out with channel.send (mentions never ping),
files as attachments; a long 429 is passed to gated. The token comes from DISCORD_BOT_TOKEN."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import logging
import sys
from dataclasses import dataclass
from typing import Final

import aiohttp
import discord
import yarl
from adapterkit import (
    AdapterConfig,
    Capabilities,
    Inbound,
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
from discord.gateway import DiscordWebSocket
from store import log_safe

from platforms.discord_events import (
    PREFIX,
    AttachmentRef,
    Where,
    channel_id_of,
    deletion,
    edit_of,
    incoming,
    snowflake,
    where_of,
)

log = logging.getLogger(__name__)

TOKEN_ENV: Final = "DISCORD_BOT_TOKEN"  # noqa: S105 (a variable name)
API_BASE: Final = "https://discord.com/api/v10"
# Discord's upload limit for a bot outside boosted servers.
MAX_FILE_BYTES: Final = 10 * 1024 * 1024
MAX_FILES_PER_MESSAGE: Final = 10
# A 429 asking for longer than this is answered to gated (429 + Retry-After) instead of
# waited out inside /send; discord.py's smallest allowed max_ratelimit_timeout.
MAX_RATELIMIT_WAIT_S: Final = 30.0
READY_WAIT_S: Final = 30.0
DOWNLOAD_TIMEOUT_S: Final = 60.0
CATCH_UP_LIMIT: Final = 500  # messages fetched per channel after a restart
CHANNELS_KEY: Final = "discord.channels"
CURSOR_KEY: Final = "discord.cursor."
NO_PINGS: Final = discord.AllowedMentions.none()
CAPABILITIES: Final = Capabilities(
    max_text=2000,
    files_in=True,
    files_out=True,
    max_file_bytes=MAX_FILE_BYTES,
    threads=True,
    typing=True,
    edits=True,
    format="discord_markdown",
)
# Close codes after which reconnecting cannot help (discord.py raises them out of connect).
FATAL_CLOSES: Final = {
    4004: f"Discord rejected the bot token (gateway close 4004): check {TOKEN_ENV}",
    4013: "Discord refused the gateway intents (close 4013)",
    4014: (
        "Discord refused the Message Content intent (close 4014): enable it for the bot in the "
        "Developer Portal"
    ),
}
DESCRIPTION: Final = (
    "Switchboard's Discord adapter: reads the Discord gateway, posts messages to gated, and "
    "serves gated's /send, /typing and /health."
)


@dataclass(frozen=True, slots=True)
class Job:
    """One gateway event for the delivery worker, in arrival order."""

    kind: str  # "message", "edit", "delete", "catch_up"
    message: discord.Message | None = None
    channel_id: int = 0
    message_id: int = 0


class GatewayClient(discord.Client):
    """discord.py's client; its events become jobs on one queue."""

    def __init__(self, jobs: asyncio.Queue[Job], max_ratelimit_timeout: float) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True
        intents.message_content = True
        super().__init__(
            intents=intents,
            allowed_mentions=NO_PINGS,
            max_ratelimit_timeout=max_ratelimit_timeout,
            chunk_guilds_at_startup=False,
        )
        self.jobs = jobs
        self.ready_once = asyncio.Event()

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info("connected to Discord as %s id=%d", self.user.name, self.user.id)
        self.ready_once.set()
        await self.jobs.put(Job("catch_up"))

    async def on_resumed(self) -> None:
        log.info("Discord gateway session resumed")

    async def on_message(self, message: discord.Message) -> None:
        await self.jobs.put(Job("message", message=message))

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self.jobs.put(Job("edit", message=payload.message))

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.jobs.put(
            Job("delete", channel_id=payload.channel_id, message_id=payload.message_id)
        )


class DiscordPlatform:
    """The Platform for one bot."""

    name = PREFIX
    capabilities = CAPABILITIES

    def __init__(self, config: AdapterConfig) -> None:
        # discord.py logs request bodies at DEBUG; nothing of it is needed at our DEBUG.
        logging.getLogger("discord").setLevel(max(logging.INFO, log.getEffectiveLevel()))
        base = str(config.options.get("api_base") or API_BASE).rstrip("/")
        discord.http.Route.BASE = base
        self.custom_base = base != API_BASE
        self.token = config.token
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.client = GatewayClient(self.jobs, MAX_RATELIMIT_WAIT_S)
        self.sink: Sink | None = None
        self.downloads: aiohttp.ClientSession | None = None
        self.gateway: asyncio.Task[None] | None = None
        self.worker: asyncio.Task[None] | None = None

    async def start(self, sink: Sink) -> None:
        self.sink = sink
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.client.login(self.token)
                break
            except discord.LoginFailure:
                raise TokenRejected(
                    f"Discord rejected the bot token (401 on GET /users/@me): check {TOKEN_ENV}"
                ) from None
            except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                wait = backoff(attempt)
                log.warning("Discord not reachable (login): %s next_try_in=%.1fs", exc, wait)
                await asyncio.sleep(wait)
        await self.find_gateway()
        self.downloads = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S)
        )
        self.worker = asyncio.create_task(self.work(sink), name="discord-deliver")
        self.gateway = asyncio.create_task(self.connect(), name="discord-gateway")
        ready = asyncio.create_task(self.client.ready_once.wait())
        await asyncio.wait(
            {ready, self.gateway}, timeout=READY_WAIT_S, return_when="FIRST_COMPLETED"
        )
        ready.cancel()
        if self.gateway.done() and isinstance(self.gateway.exception(), TokenRejected):
            raise self.gateway.exception() or TokenRejected("gateway refused")

    async def find_gateway(self) -> None:
        """The gateway's URL as GET /gateway/bot names it (discord.py's Client would use its
        built-in wss://gateway.discord.gg otherwise); kept when the call fails."""
        try:
            _, url, _ = await self.client.http.get_bot_gateway()
        except discord.GatewayNotFound as exc:
            log.warning("GET /gateway/bot failed, using the default gateway: %s", exc)
            return
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        log.info("Discord gateway %s", url)

    async def connect(self) -> None:
        """The gateway connection (discord.py reconnects and resumes by itself); a close code
        after which it cannot is turned into TokenRejected or logged."""
        try:
            await self.client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:
            raise TokenRejected(FATAL_CLOSES[4014]) from None
        except discord.ConnectionClosed as exc:
            problem = FATAL_CLOSES.get(exc.code, f"Discord closed the gateway ({exc.code})")
            if exc.code == 4004:
                raise TokenRejected(problem) from None
            log.error("%s", problem)
            raise

    # -- inbound --------------------------------------------------------------------------
    async def work(self, sink: Sink) -> None:
        """Deliver jobs one at a time, in order; an unexpected error is logged and skipped."""
        while True:
            job = await self.jobs.get()
            try:
                await self.handle(job, sink)
            except Stopping:
                return
            except Exception:
                log.exception("could not handle a Discord %s event", job.kind)

    async def handle(self, job: Job, sink: Sink) -> None:
        if job.kind == "catch_up":
            await self.catch_up(sink)
        elif job.kind == "message" and job.message is not None:
            await self.deliver_message(job.message, sink)
        elif job.kind == "edit" and job.message is not None:
            where = await self.where(job.message.channel)
            edit = edit_of(job.message, where, self.bot_id) if where else None
            if edit is not None:
                await sink.deliver(edit)
        elif job.kind == "delete":
            channel = self.client.get_channel(job.channel_id)
            where = await self.where(channel) if channel else None
            if where is None:  # the thread itself is gone: the channel stands for the chat
                where = Where(job.channel_id, None, True, None)
            await sink.deliver(deletion(job.message_id, where))

    @property
    def bot_id(self) -> int:
        assert self.client.user is not None
        return self.client.user.id

    async def where(self, channel: object) -> Where | None:
        found = where_of(channel)
        if found is not None:
            return found
        channel_id = getattr(channel, "id", None)
        if not isinstance(channel_id, int):
            return None
        try:
            fetched = await self.client.fetch_channel(channel_id)
        except (discord.HTTPException, discord.InvalidData) as exc:
            log.warning("channel not fetched channel=%d: %s", channel_id, exc)
            return None
        return where_of(fetched)

    async def deliver_message(self, message: discord.Message, sink: Sink) -> None:
        channel_id = message.channel.id
        cursor = snowflake(sink.state.get(f"{CURSOR_KEY}{channel_id}"))
        if cursor is not None and message.id <= cursor:
            return  # stored already (a catch-up and the live event overlap)
        where = await self.where(message.channel)
        found = incoming(message, where, self.bot_id) if where else None
        if found is not None:
            files = [f for ref in found.files if (f := await self.download(ref)) is not None]
            msg: Inbound = found.msg
            if files:
                msg = dataclasses.replace(msg, files=tuple(files))
            await sink.deliver(msg)
        self.remember(sink, channel_id, message.id, known=cursor is not None)

    def remember(self, sink: Sink, channel_id: int, message_id: int, *, known: bool) -> None:
        if not known:
            channels = set(json.loads(sink.state.get(CHANNELS_KEY) or "[]"))
            if channel_id not in channels:
                sink.state.set(CHANNELS_KEY, json.dumps(sorted(channels | {channel_id})))
        sink.state.set(f"{CURSOR_KEY}{channel_id}", str(message_id))

    async def catch_up(self, sink: Sink) -> None:
        """After a fresh session: each known channel's messages after the last one stored."""
        for channel_id in json.loads(sink.state.get(CHANNELS_KEY) or "[]"):
            cursor = snowflake(sink.state.get(f"{CURSOR_KEY}{channel_id}"))
            if cursor is None:
                continue
            channel = self.client.get_partial_messageable(int(channel_id))
            try:
                missed = [
                    m
                    async for m in channel.history(
                        limit=CATCH_UP_LIMIT, after=discord.Object(cursor), oldest_first=True
                    )
                ]
            except discord.HTTPException as exc:
                log.warning("catch-up failed channel=%s: %s", channel_id, exc)
                continue
            if missed:
                log.info("catching up channel=%s messages=%d", channel_id, len(missed))
            for message in missed:
                await self.deliver_message(message, sink)

    async def download(self, ref: AttachmentRef) -> InFile | None:
        """The attachment's bytes, unless over the cap or not fetched (the message still goes)."""
        name = log_safe(ref.name)
        if ref.size > MAX_FILE_BYTES:
            log.warning("file over the cap, not fetched file=%s size=%d", name, ref.size)
            return None
        if yarl.URL(ref.url).scheme not in ("http", "https") or self.downloads is None:
            return None
        try:
            async with self.downloads.get(ref.url) as resp:
                if resp.status != 200:
                    log.warning("file not fetched file=%s status=%d", name, resp.status)
                    return None
                data = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    data.extend(chunk)
                    if len(data) > MAX_FILE_BYTES:
                        log.warning("file over the cap, dropped file=%s", name)
                        return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("file fetch failed file=%s: %s", name, exc)
            return None
        return InFile(name=ref.name, type=ref.type, data=bytes(data))

    # -- outbound -------------------------------------------------------------------------
    async def target(self, chat_jid: str, thread_id: str | None) -> int:
        """The channel a reply goes to: the chat, or its thread (which must be the chat's)."""
        chat_id = channel_id_of(chat_jid)
        if chat_id is None:
            raise PermanentFailure(f"chat_jid {chat_jid[:80]!r} is not a Discord channel")
        if thread_id is None:
            return chat_id
        thread = snowflake(thread_id)
        if thread is None:
            raise PermanentFailure(f"thread_id {thread_id[:80]!r} is not a Discord thread id")
        channel = self.client.get_channel(thread)
        if channel is None:
            try:
                channel = await self.client.fetch_channel(thread)
            except discord.NotFound:
                raise PermanentFailure(f"thread {thread} does not exist") from None
            except discord.Forbidden:
                raise PermanentFailure(f"thread {thread} is not visible to the bot") from None
        if not isinstance(channel, discord.Thread) or channel.parent_id != chat_id:
            raise PermanentFailure(f"thread_id {thread} is not a thread of channel {chat_id}")
        return thread

    async def send(self, msg: Outbound) -> str | None:
        try:
            channel = self.client.get_partial_messageable(
                await self.target(msg.chat_jid, msg.thread_id)
            )
            reply = snowflake(msg.reply_to_id)
            reference = (
                discord.MessageReference(
                    message_id=reply, channel_id=channel.id, fail_if_not_exists=False
                )
                if reply is not None
                else None
            )
            content = msg.text if msg.text.strip() else None
            groups = [
                msg.files[i : i + MAX_FILES_PER_MESSAGE]
                for i in range(0, len(msg.files), MAX_FILES_PER_MESSAGE)
            ] or [()]
            remote: str | None = None
            for n, group in enumerate(groups):
                text = content if n == 0 else None
                if text is None and not group:
                    continue
                sent = await channel.send(
                    content=text,
                    files=[discord.File(io.BytesIO(f.data), filename=f.name) for f in group],
                    allowed_mentions=NO_PINGS,
                    reference=reference if n == 0 else None,  # type: ignore[arg-type]
                )
                remote = remote or str(sent.id)
            return remote
        except discord.RateLimited as exc:
            raise TemporaryFailure(str(exc), retry_after=exc.retry_after) from None
        except (discord.Forbidden, discord.NotFound) as exc:
            raise PermanentFailure(f"Discord refused: {exc}") from None
        except discord.DiscordServerError as exc:
            raise TemporaryFailure(f"Discord failed: {exc}") from None
        except discord.HTTPException as exc:
            if exc.status in (401, 408, 429) or exc.status >= 500:
                raise TemporaryFailure(f"Discord failed: {exc}") from None
            raise PermanentFailure(f"Discord refused: {exc}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"Discord unreachable: {exc}") from None

    async def typing(self, chat_jid: str, thread_id: str | None) -> None:
        channel = self.client.get_partial_messageable(await self.target(chat_jid, thread_id))
        await channel.typing()

    async def health(self) -> str | None:
        if self.client.is_closed():
            return "not connected to Discord"
        if not self.client.is_ready():
            return "the Discord gateway is not ready"
        return None

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        await self.client.close()
        for task in (self.worker, self.gateway):
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        if self.downloads is not None:
            await self.downloads.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings.add_setting(
        parser,
        "--api-base",
        env="SWITCHBOARD_DISCORD_API_BASE",
        parse=settings.text,
        default=API_BASE,
        metavar="URL",
        help=f"Discord's REST base (tests point it at a stand-in); default {API_BASE}",
    )


def main(argv: list[str] | None = None) -> None:
    sys.exit(
        run(
            DiscordPlatform,
            argv,
            name=PREFIX,
            token_env=TOKEN_ENV,
            description=DESCRIPTION,
            add_arguments=add_arguments,
            prog="switchboard-discord",
        )
    )


if __name__ == "__main__":
    main()
