"""`switchboard-slack`: the Slack adapter on slack-bolt in Socket Mode. Each Events API envelope
is written to the durable inbox as its frame arrives, then acked by Bolt, then delivered to
gated in the order Slack sent it. Replies go out with chat.postMessage in mrkdwn (plain,
escaped, when the body is plain or Slack refuses it), in the thread when there is one; files
with the upload v2 flow; a 429's Retry-After is passed to gated. Tokens come from
SLACK_BOT_TOKEN (xoxb-) and SLACK_APP_TOKEN (xapp-) only."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
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
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from store import log_safe

from platforms.slack_events import (
    PREFIX,
    BotIdentity,
    FileRef,
    channel_of,
    defuse_mrkdwn,
    escape_plain,
    incoming,
    valid_ts,
)
from platforms.slack_inbox import SlackInbox

log = logging.getLogger(__name__)

TOKEN_ENV: Final = "SLACK_BOT_TOKEN"  # noqa: S105 (a variable name)
APP_TOKEN_ENV: Final = "SLACK_APP_TOKEN"  # noqa: S105 (a variable name)
API_URL: Final = "https://slack.com/api/"
FILES_URL: Final = "https://files.slack.com/"
PING_INTERVAL_S: Final = 10.0
MAX_FILE_BYTES: Final = 20 * 1024 * 1024
CAPABILITIES: Final = Capabilities(
    max_text=4000,  # Slack truncates past 40,000 and advises at most 4,000
    files_in=True,
    files_out=True,
    max_file_bytes=MAX_FILE_BYTES,
    threads=True,
    typing=False,  # no typing indicator for bots in the Web API
    edits=True,
    format="slack_mrkdwn",
)
TOKEN_ERRORS: Final = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
# chat.postMessage's answers to text it will not take as formatted.
MALFORMED: Final = frozenset({"invalid_blocks", "invalid_blocks_format", "invalid_arguments"})
TEMPORARY: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
FILE_TRIES: Final = 3
DOWNLOAD_TIMEOUT_S: Final = 60.0
CHUNK: Final = 64 * 1024
# slack_sdk logs every request and socket frame at DEBUG (message texts, the socket URL).
LIBRARY_LOGGERS: Final = ("slack_sdk", "slack_bolt")
DESCRIPTION: Final = (
    "Switchboard's Slack adapter: receives events over Socket Mode (the app-level token in "
    f"{APP_TOKEN_ENV}), posts them to gated, and serves gated's /send, /typing and /health."
)


class TokenOnClient(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that the client's token wins: it is the
    same token, so the warning only confuses."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


class NotInInbox(Exception):
    """The event was not written to the inbox (it was full, or the write failed): the envelope
    stays unacked and Slack redelivers it."""


def error_of(exc: SlackApiError) -> str:
    found = exc.response.get("error") if isinstance(exc.response.data, dict) else None
    return str(found or f"HTTP {exc.response.status_code}")


def retry_after_of(exc: SlackApiError) -> float | None:
    """The 429's Retry-After seconds; None when the answer is not a rate limit."""
    if exc.response.status_code != 429 and error_of(exc) != "ratelimited":
        return None
    raw = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
    try:
        return max(1.0, float(raw)) if raw is not None else 1.0
    except ValueError:
        return 1.0


def same_base(url: str, base: str) -> bool:
    """`url` is under `base` (scheme, host, port and path prefix): only there goes the token."""
    got, want = urlsplit(url), urlsplit(base)
    return (
        got.scheme == want.scheme
        and got.netloc.lower() == want.netloc.lower()
        and got.path.startswith(want.path or "/")
        and not got.username
    )


class SlackPlatform:
    """The Platform for one Slack app (one workspace)."""

    name = PREFIX
    capabilities = CAPABILITIES

    def __init__(self, config: AdapterConfig, app_token: str) -> None:
        self.token = config.token
        self.app_token = app_token
        self.files_url = str(config.options.get("files_url", FILES_URL))
        self.ping_interval = float(config.options.get("ping_interval", PING_INTERVAL_S))
        api_url = str(config.options.get("api_url", API_URL))
        self.web = AsyncWebClient(
            token=config.token, base_url=api_url.rstrip("/") + "/", timeout=30
        )
        bolt_log = logging.getLogger("platforms.slack.bolt")
        bolt_log.addFilter(TokenOnClient())
        self.app = AsyncApp(client=self.web, process_before_response=True, logger=bolt_log)
        self.app.event("message")(self.on_event)
        self.app.event("app_mention")(self.on_event)
        self.identity: BotIdentity | None = None
        self.inbox: SlackInbox | None = None
        self.written: set[str] = set()  # event_ids in the inbox that Bolt has not acked yet
        self.handler: AsyncSocketModeHandler | None = None
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.problem: str | None = "not started"
        for name in LIBRARY_LOGGERS:
            if logging.getLogger(name).getEffectiveLevel() < logging.INFO:
                logging.getLogger(name).setLevel(logging.INFO)

    # -- connecting ----------------------------------------------------------------------------
    async def start(self, sink: Sink) -> None:
        if not self.token.startswith("xoxb-"):
            raise TokenRejected(f"{TOKEN_ENV} is not a bot token (it must start with xoxb-)")
        if not self.app_token.startswith("xapp-"):
            raise TokenRejected(
                f"{APP_TOKEN_ENV} is not an app-level token (it must start with xapp-)"
            )
        auth = await self.call_until_answered("auth.test", self.web.auth_test, TOKEN_ENV)
        self.identity = BotIdentity(
            team_id=str(auth.get("team_id") or ""),
            user_id=str(auth.get("user_id") or ""),
            bot_id=str(auth.get("bot_id") or ""),
        )
        # The socket client asks for its own URL on every (re)connection; this first one only
        # proves the app-level token (an unused URL expires on Slack's side).
        await self.call_until_answered(
            "apps.connections.open",
            lambda: self.web.apps_connections_open(app_token=self.app_token),
            APP_TOKEN_ENV,
        )
        log.info(
            "connected to Slack team=%s bot_user=%s bot=%s",
            self.identity.team_id,
            self.identity.user_id,
            self.identity.bot_id,
        )
        self.inbox = SlackInbox(sink.state)
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(DOWNLOAD_TIMEOUT_S))
        self.handler = AsyncSocketModeHandler(
            self.app,
            app_token=self.app_token,
            web_client=self.web,
            ping_interval=self.ping_interval,
            logger=logging.getLogger("slack_sdk.socket_mode"),
        )
        # Bolt handles each envelope in a task of its own, so its listeners run in any order
        # (the first ones after a start all wait on auth.test). slack_sdk awaits these listeners
        # in its receive loop, one frame after the other: the inbox is written there.
        self.handler.client.on_message_listeners.append(self.on_frame)
        self.tasks.append(asyncio.create_task(self.connect(), name="slack-socket"))
        self.tasks.append(asyncio.create_task(self.drain(sink), name="slack-deliver"))

    async def call_until_answered(self, method: str, call: Any, env: str) -> dict[str, Any]:
        """`call()`'s answer, retried while Slack is unreachable; TokenRejected when Slack
        refuses the token (the token itself is never logged)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await call()
                return dict(answer.data) if isinstance(answer.data, dict) else {}
            except SlackApiError as exc:
                error = error_of(exc)
                if error in TOKEN_ERRORS or error == "not_allowed_token_type":
                    raise TokenRejected(
                        f"Slack rejected the token ({error} on {method}): check {env}"
                    ) from None
                wait = retry_after_of(exc) or backoff(attempt)
                log.warning("Slack refused %s: %s next_try_in=%.1fs", method, error, wait)
            except (aiohttp.ClientError, TimeoutError, SlackClientError) as exc:
                wait = backoff(attempt)
                log.warning(
                    "Slack not reachable (%s): %s next_try_in=%.1fs",
                    method,
                    type(exc).__name__,
                    wait,
                )
            await asyncio.sleep(wait)

    async def connect(self) -> None:
        """The socket; slack_sdk reconnects by itself when it drops or Slack says disconnect."""
        assert self.handler is not None
        await self.handler.connect_async()  # type: ignore[no-untyped-call]  # slack-bolt
        self.problem = None
        log.info("socket mode connected")

    # -- inbound -------------------------------------------------------------------------------
    async def on_frame(self, frame: aiohttp.WSMessage) -> None:
        """Each text frame off the socket, in order and before Bolt sees it: an event for gated
        goes into the inbox (an error is logged, never raised into slack_sdk's receive loop)."""
        assert self.identity is not None
        assert self.inbox is not None
        try:
            envelope = json.loads(frame.data)
        except (TypeError, ValueError):
            return
        if not isinstance(envelope, dict) or envelope.get("type") != "events_api":
            return  # hello, disconnect, or what Bolt answers without the inbox
        payload = envelope.get("payload")
        if not isinstance(payload, dict) or incoming(payload, self.identity) is None:
            return
        event_id = str(payload.get("event_id"))
        try:
            if self.inbox.append(payload):
                self.written.add(event_id)
            else:
                log.warning("inbox full, not acking event=%s", log_safe(event_id))
        except Exception:
            log.exception("inbox not written, not acking event=%s", log_safe(event_id))

    async def on_event(self, body: dict[str, Any]) -> None:
        """Bolt's listener for message and app_mention: Bolt acks when it returns, so it
        raises for an event on_frame did not write (Slack sends the envelope again)."""
        assert self.identity is not None
        if incoming(body, self.identity) is None:
            return  # the bot's own message, a join, an unfurl: acked and forgotten
        event_id = str(body.get("event_id"))
        if event_id not in self.written:
            raise NotInInbox(event_id)
        self.written.discard(event_id)

    async def drain(self, sink: Sink) -> None:
        """The inbox to gated, oldest first; an entry is forgotten once gated stored it."""
        assert self.identity is not None
        assert self.inbox is not None
        while True:
            payload = self.inbox.peek()
            if payload is None:
                await self.inbox.wait()
                continue
            found = incoming(payload, self.identity)
            if found is not None:
                files = [got for ref in found.files if (got := await self.download(ref))]
                msg = dataclasses.replace(found.msg, files=tuple(files)) if files else found.msg
                try:
                    await sink.deliver(msg)
                except Stopping:
                    return  # not stored: it stays first in the inbox
            self.inbox.advance()

    async def download(self, ref: FileRef) -> InFile | None:
        """The file's bytes (files.info, then its url_private with the bot token), unless over
        the cap or not on Slack's file host (None; the message still goes)."""
        name = log_safe(ref.name)
        if ref.size is not None and ref.size > MAX_FILE_BYTES:
            log.warning("file over the cap, not fetched file=%s size=%d", name, ref.size)
            return None
        for attempt in range(1, FILE_TRIES + 1):
            try:
                info = await self.web.files_info(file=ref.file_id)
                meta = info.get("file")
                if not isinstance(meta, dict):
                    return None
                size = meta.get("size")
                if isinstance(size, int) and size > MAX_FILE_BYTES:
                    log.warning("file over the cap, not fetched file=%s size=%d", name, size)
                    return None
                url = meta.get("url_private_download") or meta.get("url_private")
                if not isinstance(url, str) or not same_base(url, self.files_url):
                    log.warning("file not on Slack's file host, not fetched file=%s", name)
                    return None
                data = await self.fetch(url)
                if data is None:
                    log.warning("file over the cap, dropped file=%s", name)
                    return None
                kind = meta.get("mimetype")
                return InFile(
                    name=ref.name, type=kind if isinstance(kind, str) else ref.type, data=data
                )
            except SlackApiError as exc:
                wait = retry_after_of(exc)
                if wait is None:
                    log.warning("file not fetched file=%s: %s", name, error_of(exc))
                    return None
                await asyncio.sleep(wait)
            except (aiohttp.ClientError, TimeoutError, SlackClientError) as exc:
                log.warning("file fetch failed file=%s try=%d: %s", name, attempt, exc)
                await asyncio.sleep(backoff(attempt))
        return None

    async def fetch(self, url: str) -> bytes | None:
        """GET a private file URL with the bot token; None past the cap (stops reading)."""
        assert self.session is not None
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.get(url, headers=headers, allow_redirects=False) as resp:
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message="file download refused"
                )
            if (resp.content_length or 0) > MAX_FILE_BYTES:
                return None
            chunks: list[bytes] = []
            total = 0
            async for chunk in resp.content.iter_chunked(CHUNK):
                total += len(chunk)
                if total > MAX_FILE_BYTES:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)

    # -- outbound ------------------------------------------------------------------------------
    async def send(self, msg: Outbound) -> str | None:
        channel = channel_of(msg.chat_jid)
        if channel is None:
            raise PermanentFailure(f"chat_jid {msg.chat_jid[:80]!r} is not a Slack chat")
        thread = valid_ts(msg.thread_id)
        try:
            remote: str | None = None
            if msg.text.strip() or not msg.files:
                remote = await self.send_text(channel, msg, thread)
            for f in msg.files:
                done = await self.web.files_upload_v2(
                    channel=channel, filename=f.name, title=f.name, content=f.data, thread_ts=thread
                )
                file = done.get("file")
                if remote is None and isinstance(file, dict):
                    remote = str(file.get("id") or "") or None
            return remote
        except SlackApiError as exc:
            error = error_of(exc)
            wait = retry_after_of(exc)
            if wait is not None:
                raise TemporaryFailure(
                    f"rate-limited by Slack ({error})", retry_after=wait
                ) from None
            if error in TOKEN_ERRORS:
                raise TemporaryFailure("Slack rejected the bot token") from None
            if error in TEMPORARY or exc.response.status_code >= 500:
                raise TemporaryFailure(f"Slack failed: {error}") from None
            raise PermanentFailure(f"Slack refused: {error}") from None
        except (aiohttp.ClientError, TimeoutError, SlackClientError) as exc:
            raise TemporaryFailure(f"Slack unreachable: {type(exc).__name__}: {exc}") from None

    async def send_text(self, channel: str, msg: Outbound, thread: str | None) -> str:
        if msg.format == "slack_mrkdwn":
            try:
                sent = await self.web.chat_postMessage(
                    channel=channel, text=defuse_mrkdwn(msg.text), mrkdwn=True, thread_ts=thread
                )
                return str(sent["ts"])
            except SlackApiError as exc:
                if error_of(exc) not in MALFORMED:
                    raise
                log.info(
                    "Slack refused the mrkdwn, sending plain chat=%s: %s",
                    log_safe(msg.chat_jid),
                    error_of(exc),
                )
        sent = await self.web.chat_postMessage(
            channel=channel, text=escape_plain(msg.plain), mrkdwn=False, thread_ts=thread
        )
        return str(sent["ts"])

    async def typing(self, chat_jid: str, thread_id: str | None) -> None:
        """Slack's Web API has no typing indicator for bots (capabilities.typing is false)."""

    async def health(self) -> str | None:
        if self.problem is not None:
            return self.problem
        if self.handler is not None and not await self.handler.client.is_connected():
            return "the Socket Mode connection is down (reconnecting)"
        return None

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.handler is not None:
            try:
                await self.handler.close_async()  # type: ignore[no-untyped-call]  # slack-bolt
            except Exception as exc:
                log.debug("socket close: %s", exc)
        if self.session is not None:
            await self.session.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings.add_setting(
        parser,
        "--api-url",
        env="SLACK_API_URL",
        parse=settings.text,
        default=API_URL,
        metavar="URL",
        help=f"the Web API base; default {API_URL}",
    )
    settings.add_setting(
        parser,
        "--files-url",
        env="SLACK_FILES_URL",
        parse=settings.text,
        default=FILES_URL,
        metavar="URL",
        help=f"the only base private files are fetched from with the token; default {FILES_URL}",
    )
    settings.add_setting(
        parser,
        "--ping-interval",
        env="SLACK_PING_INTERVAL",
        parse=settings.number(0.5, 300),
        default=PING_INTERVAL_S,
        metavar="S",
        help=f"Socket Mode ping seconds (a silent socket is replaced after 4); default "
        f"{PING_INTERVAL_S:g}",
    )


def main(argv: list[str] | None = None) -> None:
    def factory(config: AdapterConfig) -> SlackPlatform:
        app_token = os.environ.get(APP_TOKEN_ENV, "").strip()
        if not app_token:
            settings.settings_error(
                "switchboard-slack", f"{APP_TOKEN_ENV} is not set (the app-level token)"
            )
        return SlackPlatform(config, app_token)

    sys.exit(
        run(
            factory,
            argv,
            name=PREFIX,
            token_env=TOKEN_ENV,
            description=DESCRIPTION,
            add_arguments=add_arguments,
            prog="switchboard-slack",
        )
    )


if __name__ == "__main__":
    main()
