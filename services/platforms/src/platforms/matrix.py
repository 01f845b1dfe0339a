"""`switchboard-matrix`: the Matrix adapter on matrix-nio's AsyncClient. A /sync loop whose
next_batch is persisted only after gated stored every event of the batch; rooms the bot is
invited to are joined; files come through the authenticated media API under the cap. Replies
are m.text with org.matrix.custom.html (in the thread when given), files by upload + m.file; a
429 M_LIMIT_EXCEEDED's retry_after_ms is passed to gated. The token is MATRIX_ACCESS_TOKEN."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import logging
import re
import sys
from typing import Any, Final

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
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    MessageDirection,
    ProfileGetDisplayNameResponse,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
    WhoamiResponse,
)
from store import log_safe

from platforms.matrix_events import (
    PREFIX,
    BotIdentity,
    FileRef,
    RoomInfo,
    file_content,
    incoming,
    room_id_of,
    text_content,
    txn_id,
)

log = logging.getLogger(__name__)

TOKEN_ENV: Final = "MATRIX_ACCESS_TOKEN"  # noqa: S105 (a variable name)
SYNC_KEY: Final = "matrix.next_batch"
SYNC_TIMEOUT_MS: Final = 30_000
TIMELINE_LIMIT: Final = 50
GAP_PAGES: Final = 20  # a limited timeline is filled from /messages, at most this many pages
# gated's own default cap (SWITCHBOARD_MAX_FILE_BYTES).
MAX_FILE_BYTES: Final = 25 * 1024 * 1024
# An event is at most 64 KiB of JSON holding the text twice (body and formatted_body).
MAX_TEXT: Final = 8000
TYPING_MS: Final = 10_000
REQUEST_TIMEOUT_S: Final = 60.0
MEDIA_PATH: Final = "/_matrix/client/v1/media/download"
# mxc://<server name>/<media id>: the id is [A-Za-z0-9_-] (spec: Matrix Content URIs).
MXC_RE: Final = re.compile(r"mxc://([A-Za-z0-9.\-]{1,255}(?::[0-9]{1,5})?)/([A-Za-z0-9_\-]{1,255})")
TEMPORARY_CODES: Final = frozenset({"M_LIMIT_EXCEEDED", "M_UNKNOWN_TOKEN", "M_UNKNOWN"})
DESCRIPTION: Final = (
    "Switchboard's Matrix adapter: syncs with a homeserver as the bot's account, joins the rooms "
    "it is invited to, posts their messages to gated, and serves gated's /send, /typing and "
    "/health."
)


def sync_filter(timeline_limit: int) -> dict[str, Any]:
    """Only room timelines and state: no presence, account data or receipts."""
    return {
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "room": {
            "timeline": {"limit": timeline_limit},
            "ephemeral": {"not_types": ["*"]},
            "account_data": {"not_types": ["*"]},
        },
    }


def allowed_inviter(inviter: str | None, allow: tuple[str, ...]) -> bool:
    """Whether an invite is accepted: any inviter when the list is empty, else one named by its
    user id (`@alice:example.org`) or its server (`:example.org`)."""
    if not allow:
        return True
    if inviter is None:
        return False
    return any(inviter == a if a.startswith("@") else inviter.endswith(a) for a in allow)


def allow_list(raw: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in raw.split(",") if part.strip())
    for item in items:
        if not (item.startswith("@") or item.startswith(":")) or " " in item:
            raise settings.SettingError(
                f"{item!r}: expected a user id (@alice:example.org) or a server (:example.org)"
            )
    return items


def is_own_join(event: dict[str, Any], user_id: str) -> bool:
    """The bot's own join (not a profile change of an existing member)."""
    content = event.get("content") or {}
    before = ((event.get("unsigned") or {}).get("prev_content") or {}).get("membership")
    return (
        event.get("type") == "m.room.member"
        and event.get("state_key") == user_id
        and content.get("membership") == "join"
        and before != "join"
    )


def after_own_join(events: list[dict[str, Any]], user_id: str) -> list[dict[str, Any]]:
    """The events after the bot's join when the batch has it: a room's history from before
    the bot joined is not replayed."""
    for i in range(len(events) - 1, -1, -1):
        if is_own_join(events[i], user_id):
            return events[i + 1 :]
    return events


def failure(resp: ErrorResponse, what: str) -> Exception:
    """A Matrix error answer as the kit's TemporaryFailure or PermanentFailure."""
    code = str(resp.status_code or "")
    status = getattr(getattr(resp, "transport_response", None), "status", None)
    reason = f"Matrix refused {what}: {code or status} {str(resp.message)[:200]}"
    if code == "M_LIMIT_EXCEEDED" or status == 429:
        ms = resp.retry_after_ms if isinstance(resp.retry_after_ms, int) else 1000
        return TemporaryFailure(reason, retry_after=max(ms, 1) / 1000)
    if code in TEMPORARY_CODES or status is None or status >= 500:
        return TemporaryFailure(reason)
    return PermanentFailure(reason)


class MatrixPlatform:
    """The Platform for one Matrix account."""

    name = PREFIX

    def __init__(self, config: AdapterConfig) -> None:
        opts = config.options
        homeserver = opts.get("homeserver")
        if not homeserver:
            settings.settings_error(
                "switchboard-matrix",
                "SWITCHBOARD_MATRIX_HOMESERVER is not set (the homeserver's URL, or --homeserver)",
            )
        self.homeserver = str(homeserver).rstrip("/")
        self.expected_user: str | None = opts.get("user")
        self.allow: tuple[str, ...] = tuple(opts.get("allow_invites_from") or ())
        self.max_file_bytes = int(opts.get("max_file_bytes", MAX_FILE_BYTES))
        self.sync_timeout_ms = int(opts.get("sync_timeout", SYNC_TIMEOUT_MS))
        self.filter = sync_filter(int(opts.get("timeline_limit", TIMELINE_LIMIT)))
        self.capabilities = Capabilities(
            max_text=MAX_TEXT,
            files_in=True,
            files_out=True,
            max_file_bytes=self.max_file_bytes,
            threads=True,
            typing=True,
            edits=True,
            format="matrix_html",
        )
        self.token = config.token
        # No retries inside nio on a 429 (gated is told Retry-After) and few on a timeout.
        client_config = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=2,
            request_timeout=REQUEST_TIMEOUT_S,
            encryption_enabled=False,
            store_sync_tokens=False,
        )
        self.client = AsyncClient(self.homeserver, "", config=client_config)
        self.client.access_token = config.token
        self.identity: BotIdentity | None = None
        self.media: aiohttp.ClientSession | None = None
        self.syncer: asyncio.Task[None] | None = None
        self.problem: str | None = "not started"
        self.joined_invites: set[str] = set()

    # -- start ---------------------------------------------------------------------------------
    async def start(self, sink: Sink) -> None:
        logging.getLogger("nio").setLevel(logging.WARNING)
        attempt = 0
        while True:
            attempt += 1
            try:
                me = await self.client.whoami()
            except (aiohttp.ClientError, TimeoutError) as exc:
                me = exc
            if isinstance(me, WhoamiResponse):
                break
            if isinstance(me, ErrorResponse) and me.status_code in ("M_UNKNOWN_TOKEN",):
                raise TokenRejected(
                    f"Matrix rejected the access token (M_UNKNOWN_TOKEN on whoami): "
                    f"check {TOKEN_ENV}"
                )
            wait = backoff(attempt)
            log.warning(
                "homeserver not reachable (whoami): %s next_try_in=%.1fs",
                log_safe(str(me)[:200]),
                wait,
            )
            await asyncio.sleep(wait)
        user_id = str(me.user_id)
        if self.expected_user and self.expected_user != user_id:
            raise TokenRejected(
                f"the access token in {TOKEN_ENV} is {user_id}'s, not "
                f"{self.expected_user} (SWITCHBOARD_MATRIX_USER)"
            )
        self.client.user_id = user_id
        self.client.user = user_id
        if me.device_id:
            self.client.device_id = str(me.device_id)
        self.identity = BotIdentity(user_id, await self.display_name(user_id))
        await self.check_upload_limit()
        self.media = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        )
        self.problem = None
        log.info("connected to Matrix as %s device=%s", user_id, self.client.device_id)
        self.syncer = asyncio.create_task(self.sync_loop(sink), name="matrix-sync")

    async def display_name(self, user_id: str) -> str | None:
        try:
            got = await self.client.get_displayname(user_id)
        except (aiohttp.ClientError, TimeoutError):
            return None
        if isinstance(got, ProfileGetDisplayNameResponse) and got.displayname:
            return str(got.displayname)
        return None

    async def check_upload_limit(self) -> None:
        try:
            got = await self.client.content_repository_config()
        except (aiohttp.ClientError, TimeoutError):
            return
        size = getattr(got, "upload_size", None)
        if isinstance(size, int) and size < self.max_file_bytes:
            log.warning(
                "the homeserver takes uploads up to %d bytes, less than --max-file-bytes %d: "
                "larger replies' files will be refused",
                size,
                self.max_file_bytes,
            )

    # -- inbound -------------------------------------------------------------------------------
    async def sync_loop(self, sink: Sink) -> None:
        """/sync forever; each batch delivered, then its next_batch persisted."""
        since = sink.state.get(SYNC_KEY)
        first = True
        attempt = 0
        while True:
            fresh = since is None
            try:
                resp = await self.client.sync(
                    timeout=0 if fresh else self.sync_timeout_ms,
                    sync_filter=self.filter,
                    since=since,
                    full_state=True if first else None,
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                resp = exc
            if not isinstance(resp, SyncResponse):
                attempt += 1
                wait = backoff(attempt, 1.0, 60.0)
                if isinstance(resp, ErrorResponse) and resp.retry_after_ms:
                    wait = max(wait, resp.retry_after_ms / 1000)
                self.problem = f"sync failed: {str(resp)[:200]}"
                log.warning("sync failed: %s next_try_in=%.1fs", log_safe(self.problem), wait)
                await asyncio.sleep(wait)
                continue
            attempt = 0
            self.problem = None
            first = False
            await self.accept_invites()
            if fresh:
                # A fresh state starts from now: what the rooms said before is not replayed.
                log.info("fresh state: starting from the homeserver's present, no history")
            else:
                try:
                    await self.deliver_batch(resp, since, sink)
                except Stopping:
                    return  # not stored: next_batch stays before this batch
            since = str(resp.next_batch)
            sink.state.set(SYNC_KEY, since)

    async def accept_invites(self) -> None:
        assert self.identity is not None
        for room_id, room in list(self.client.invited_rooms.items()):
            if room_id in self.joined_invites:
                continue
            inviter = getattr(room, "inviter", None)
            if not allowed_inviter(inviter, self.allow):
                log.warning(
                    "invite declined room=%s from=%s (not in --allow-invites-from)",
                    log_safe(room_id),
                    log_safe(str(inviter)),
                )
                await self.client.room_leave(room_id)
                self.joined_invites.add(room_id)
                continue
            joined = await self.client.join(room_id)
            if isinstance(joined, JoinResponse):
                self.joined_invites.add(room_id)
                log.info("joined room=%s invited_by=%s", log_safe(room_id), log_safe(str(inviter)))
            else:
                log.warning("join failed room=%s: %s", log_safe(room_id), log_safe(str(joined)))

    async def deliver_batch(self, resp: SyncResponse, since: str | None, sink: Sink) -> None:
        assert self.identity is not None
        for room_id, info in resp.rooms.join.items():
            events = [dict(e.source) for e in info.timeline.events]
            if info.timeline.limited and since and info.timeline.prev_batch:
                events = await self.gap(room_id, info.timeline.prev_batch, since) + events
            for event in after_own_join(events, self.identity.user_id):
                await self.deliver_event(room_id, event, sink)

    async def gap(self, room_id: str, prev_batch: str, since: str) -> list[dict[str, Any]]:
        """The events of a limited timeline that the batch left out (between `since` and its
        prev_batch), oldest first."""
        found: list[dict[str, Any]] = []
        start = prev_batch
        for _ in range(GAP_PAGES):
            page = await self.client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=100
            )
            if not isinstance(page, RoomMessagesResponse):
                log.warning("gap not filled room=%s: %s", log_safe(room_id), log_safe(str(page)))
                break
            found.extend(dict(e.source) for e in page.chunk)
            if not page.chunk or not page.end or page.end == start:
                break
            start = str(page.end)
        log.info("filled a sync gap room=%s events=%d", log_safe(room_id), len(found))
        return found[::-1]

    def room_info(self, room_id: str, sender: str | None) -> RoomInfo:
        room = self.client.rooms.get(room_id)
        if room is None:
            return RoomInfo(None, 0, None)
        name = str(room.display_name) or None
        who = room.user_name(sender) if sender else None
        return RoomInfo(name, int(room.joined_count), who)

    async def deliver_event(self, room_id: str, event: dict[str, Any], sink: Sink) -> None:
        assert self.identity is not None
        if event.get("type") == "m.room.encrypted":
            log.warning(
                "encrypted event not delivered (end-to-end encryption is not supported) "
                "room=%s id=%s",
                log_safe(room_id),
                log_safe(str(event.get("event_id"))),
            )
            return
        sender = event.get("sender")
        found = incoming(
            room_id,
            event,
            self.identity,
            self.room_info(room_id, sender if isinstance(sender, str) else None),
        )
        if found is None:
            return
        files: list[InFile] = []
        for ref in found.files:
            got = await self.download(ref)
            if got is not None:
                files.append(got)
        msg = dataclasses.replace(found.msg, files=tuple(files)) if files else found.msg
        await sink.deliver(msg)

    async def download(self, ref: FileRef) -> InFile | None:
        """The file's bytes from the authenticated media API, unless over the cap (None; the
        message still goes). The announced size is checked first, the bytes as they come."""
        name = log_safe(ref.name)
        match = MXC_RE.fullmatch(ref.mxc)
        if match is None:
            log.warning("file with a malformed mxc URI not fetched file=%s", name)
            return None
        if ref.size is not None and ref.size > self.max_file_bytes:
            log.warning("file over the cap, not fetched file=%s size=%d", name, ref.size)
            return None
        assert self.media is not None
        url = f"{self.homeserver}{MEDIA_PATH}/{match[1]}/{match[2]}"
        for attempt in range(1, 4):
            try:
                async with self.media.get(url, allow_redirects=False) as resp:
                    if resp.status != 200:
                        log.warning("file not fetched file=%s status=%d", name, resp.status)
                        if resp.status < 500 and resp.status != 429:
                            return None
                        raise aiohttp.ClientError(f"status {resp.status}")
                    data = bytearray()
                    async for chunk in resp.content.iter_chunked(64 * 1024):
                        data.extend(chunk)
                        if len(data) > self.max_file_bytes:
                            log.warning(
                                "file over the cap, download stopped file=%s cap=%d",
                                name,
                                self.max_file_bytes,
                            )
                            return None
                    return InFile(name=ref.name, type=ref.type, data=bytes(data))
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("file fetch failed file=%s try=%d: %s", name, attempt, exc)
                await asyncio.sleep(backoff(attempt))
        return None

    # -- outbound ------------------------------------------------------------------------------
    async def send(self, msg: Outbound) -> str | None:
        room_id = room_id_of(msg.chat_jid)
        if room_id is None:
            raise PermanentFailure(f"chat_jid {msg.chat_jid[:80]!r} is not a Matrix room")
        room = self.client.rooms.get(room_id)
        if room is not None and room.encrypted:
            raise PermanentFailure(f"room {room_id} is encrypted: end-to-end encryption is off")
        try:
            remote: str | None = None
            if msg.text.strip():
                content = text_content(
                    msg.text, msg.format, msg.plain, msg.thread_id, msg.reply_to_id
                )
                remote = await self.post(room_id, content, txn_id(msg.idempotency_key, 0))
            for i, f in enumerate(msg.files, 1):
                mxc = await self.upload(f.name, f.type, f.data)
                content = file_content(
                    mxc, f.name, f.type, len(f.data), msg.thread_id, msg.reply_to_id
                )
                sent = await self.post(room_id, content, txn_id(msg.idempotency_key, i))
                remote = remote or sent
            return remote
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TemporaryFailure(f"homeserver unreachable: {type(exc).__name__}") from None

    async def post(self, room_id: str, content: dict[str, Any], txn: str) -> str:
        resp = await self.client.room_send(room_id, "m.room.message", content, tx_id=txn)
        if isinstance(resp, RoomSendResponse):
            return str(resp.event_id)
        if isinstance(resp, ErrorResponse):
            raise failure(resp, "the message")
        raise TemporaryFailure(f"unexpected answer to the message: {type(resp).__name__}")

    async def upload(self, name: str, kind: str, data: bytes) -> str:
        uploaded, _ = await self.client.upload(
            io.BytesIO(data), content_type=kind, filename=name, filesize=len(data)
        )
        if isinstance(uploaded, UploadResponse):
            return str(uploaded.content_uri)
        if isinstance(uploaded, ErrorResponse):
            raise failure(uploaded, "the upload")
        raise TemporaryFailure(f"unexpected answer to the upload: {type(uploaded).__name__}")

    async def typing(self, chat_jid: str, thread_id: str | None) -> None:
        room_id = room_id_of(chat_jid)
        if room_id is None:
            return
        resp = await self.client.room_typing(room_id, True, timeout=TYPING_MS)
        if isinstance(resp, ErrorResponse):
            raise failure(resp, "typing")

    async def health(self) -> str | None:
        return self.problem

    async def stop(self) -> None:
        if self.syncer is not None:
            self.syncer.cancel()
            await asyncio.gather(self.syncer, return_exceptions=True)
        if self.media is not None:
            await self.media.close()
        await self.client.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings.add_setting(
        parser,
        "--homeserver",
        env="SWITCHBOARD_MATRIX_HOMESERVER",
        parse=settings.optional_text,
        default=None,
        metavar="URL",
        help="the homeserver's client API base, e.g. https://matrix.example.org (required)",
    )
    settings.add_setting(
        parser,
        "--user",
        env="SWITCHBOARD_MATRIX_USER",
        parse=settings.optional_text,
        default=None,
        metavar="@BOT:SERVER",
        help="the bot's user id; when given, a token of another account is refused",
    )
    settings.add_setting(
        parser,
        "--allow-invites-from",
        env="SWITCHBOARD_MATRIX_ALLOW_INVITES_FROM",
        parse=allow_list,
        default=(),
        metavar="LIST",
        help="comma-separated user ids (@alice:example.org) or servers (:example.org) whose "
        "invites are accepted; default: every invite",
    )
    settings.add_setting(
        parser,
        "--max-file-bytes",
        env="SWITCHBOARD_MATRIX_MAX_FILE_BYTES",
        parse=settings.integer(1, 1024 * 1024 * 1024),
        default=MAX_FILE_BYTES,
        metavar="N",
        help=f"largest file fetched or sent; default {MAX_FILE_BYTES}",
    )
    settings.add_setting(
        parser,
        "--sync-timeout",
        env="SWITCHBOARD_MATRIX_SYNC_TIMEOUT",
        parse=settings.integer(0, 120_000),
        default=SYNC_TIMEOUT_MS,
        metavar="MS",
        help=f"/sync long-poll milliseconds; default {SYNC_TIMEOUT_MS}",
    )
    settings.add_setting(
        parser,
        "--timeline-limit",
        env="SWITCHBOARD_MATRIX_TIMELINE_LIMIT",
        parse=settings.integer(1, 1000),
        default=TIMELINE_LIMIT,
        metavar="N",
        help=f"events per room per /sync (more are fetched from /messages); "
        f"default {TIMELINE_LIMIT}",
    )


def main(argv: list[str] | None = None) -> None:
    sys.exit(
        run(
            MatrixPlatform,
            argv,
            name=PREFIX,
            token_env=TOKEN_ENV,
            description=DESCRIPTION,
            add_arguments=add_arguments,
            prog="switchboard-matrix",
        )
    )


if __name__ == "__main__":
    main()
