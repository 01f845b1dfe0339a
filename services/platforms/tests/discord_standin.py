"""A stand-in for Discord's cloud, run as its own process (`python discord_standin.py serve
--token T --port-file F`): the REST endpoints discord.py calls (users/@me, oauth2 application,
gateway/bot, channel messages incl. multipart files, typing, channel fetch, message history,
attachment downloads, a 429 with retry_after on demand) and the Gateway WebSocket (HELLO,
IDENTIFY -> READY + GUILD_CREATE, HEARTBEAT/ACK, dispatches, RESUME replaying what was missed,
INVALID_SESSION), zlib-stream compressed when the client asks (discord.py always does).

The test drives it under /_test/ (`DiscordStandin` wraps those calls); `python
discord_standin.py say --control URL TEXT [--file PATH]` makes a user say TEXT in the channel."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import secrets
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import httpx
from aiohttp import WSMsgType, web
from standin_process import StandinProcess, serve_app

DISCORD_EPOCH_MS: Final = 1420070400000
BOT_ID: Final = 1100000000000000001
BOT_NAME: Final = "switchboard-test"
APP_ID: Final = 1100000000000000002
GUILD_ID: Final = 1100000000000000010
CHANNEL_ID: Final = 1100000000000000011
THREAD_ID: Final = 1100000000000000012
OTHER_CHANNEL_ID: Final = 1100000000000000013
USER_ID: Final = 1100000000000000020
OTHER_BOT_ID: Final = 1100000000000000021
MESSAGE_CONTENT_INTENT: Final = 1 << 15
HEARTBEAT_MS: Final = 41250

# Gateway opcodes (Discord's "Gateway Opcodes" table).
DISPATCH, HEARTBEAT, IDENTIFY, RESUME, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 0, 1, 2, 6, 9, 10, 11


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user(uid: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": str(uid),
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
    }
    if bot:
        found["bot"] = True
    return found


def member() -> dict[str, Any]:
    return {"roles": [], "joined_at": now_iso(), "deaf": False, "mute": False, "flags": 0}


def channel_object(channel_id: int) -> dict[str, Any] | None:
    base = {"guild_id": str(GUILD_ID), "rate_limit_per_user": 0, "last_message_id": None}
    if channel_id in (CHANNEL_ID, OTHER_CHANNEL_ID):
        name = "general" if channel_id == CHANNEL_ID else "random"
        return {
            **base,
            "id": str(channel_id),
            "type": 0,
            "name": name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
        }
    if channel_id == THREAD_ID:
        return {
            **base,
            "id": str(THREAD_ID),
            "type": 11,
            "name": "a thread",
            "parent_id": str(CHANNEL_ID),
            "owner_id": str(USER_ID),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": now_iso(),
                "locked": False,
            },
        }
    return None


@dataclass
class Session:
    """A gateway session: every dispatch it was sent, for a RESUME to replay."""

    session_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    socket: web.WebSocketResponse | None = None
    send: Any = None  # the socket's sender (compressing or not)


class Cloud:
    """The platform's state: channels' messages, files, gateway sessions, what was called."""

    def __init__(self, token: str, heartbeat_ms: int) -> None:
        self.token = token
        self.heartbeat_ms = heartbeat_ms
        self.base_url = ""
        self.counter = 0
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.files: dict[str, tuple[bytes, str]] = {}  # attachment id -> (data, type)
        self.sessions: dict[str, Session] = {}
        self.calls: list[dict[str, Any]] = []
        self.limits: dict[str, tuple[int, float]] = {}  # route -> (times, retry_after)
        self.gateway_up = True
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/gateway"

    def snowflake(self) -> int:
        self.counter += 1
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (self.counter & 0x3FFFFF)

    def bot_user(self) -> dict[str, Any]:
        return user(BOT_ID, BOT_NAME, bot=True)

    def message(self, channel_id: int, author: dict[str, Any], **extra: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "id": str(self.snowflake()),
            "channel_id": str(channel_id),
            "guild_id": str(GUILD_ID),
            "author": author,
            "member": member(),
            "content": "",
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            **extra,
        }
        self.messages.setdefault(channel_id, []).append(msg)
        return msg

    def attachment(self, data: bytes, filename: str, kind: str) -> dict[str, Any]:
        att_id = str(self.snowflake())
        self.files[att_id] = (data, kind)
        url = f"{self.base_url}/attachments/{att_id}/{filename}"
        return {
            "id": att_id,
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": kind,
        }

    def guild(self) -> dict[str, Any]:
        everyone = {
            "id": str(GUILD_ID),
            "name": "@everyone",
            "permissions": str((1 << 41) - 1),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": str(GUILD_ID),
            "name": "Switchboard test guild",
            "icon": None,
            "owner_id": str(USER_ID),
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "features": [],
            "member_count": 3,
            "large": False,
            "unavailable": False,
            "joined_at": now_iso(),
            "channels": [channel_object(CHANNEL_ID), channel_object(OTHER_CHANNEL_ID)],
            "threads": [channel_object(THREAD_ID)],
            "members": [{**member(), "user": self.bot_user()}],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
        }

    async def dispatch(self, kind: str, data: dict[str, Any]) -> None:
        """Send an event to every session (queued for a RESUME where its socket is gone)."""
        for session in list(self.sessions.values()):
            await self.dispatch_to(session, kind, data)

    async def dispatch_to(self, session: Session, kind: str, data: dict[str, Any]) -> None:
        event = {"op": DISPATCH, "t": kind, "s": len(session.events) + 1, "d": data}
        session.events.append(event)
        if session.socket is not None and not session.socket.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.send(event)


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer typed exactly `application/json`, as Discord sends it (discord.py reads a
    body as JSON only then)."""
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def error(status: int, message: str, code: int = 0) -> web.Response:
    return reply({"message": message, "code": code}, status=status)


def sender_for(ws: web.WebSocketResponse, compress: str | None) -> Any:
    """How payloads go out on this socket: zlib-stream (one zlib context for the connection,
    each payload ending in a Z_SYNC_FLUSH) when asked, else text frames."""
    if compress == "zlib-stream":
        ctx = zlib.compressobj()

        async def send_zlib(payload: dict[str, Any]) -> None:
            data = ctx.compress(json.dumps(payload).encode()) + ctx.flush(zlib.Z_SYNC_FLUSH)
            await ws.send_bytes(data)

        return send_zlib

    async def send_text(payload: dict[str, Any]) -> None:
        await ws.send_str(json.dumps(payload))

    return send_text


def app_for(cloud: Cloud) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {cloud.token}"

    def limited(route: str, record: dict[str, Any]) -> web.Response | None:
        times, retry_after = cloud.limits.get(route, (0, 0.0))
        if times <= 0:
            return None
        cloud.limits[route] = (times - 1, retry_after)
        cloud.calls.append({**record, "limited": True})
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "standin-messages",
            "X-RateLimit-Scope": "user",
            "Via": "1.1 google",
        }
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
        }
        return reply(body, status=429, headers=headers)

    async def me(request: web.Request) -> web.Response:
        if not authorized(request):
            return error(401, "401: Unauthorized")
        cloud.calls.append({"route": "GET /users/@me", "at": time.monotonic()})
        return reply(cloud.bot_user())

    async def application(request: web.Request) -> web.Response:
        if not authorized(request):
            return error(401, "401: Unauthorized")
        return reply(
            {
                "id": str(APP_ID),
                "name": BOT_NAME,
                "icon": None,
                "description": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "00" * 32,
                "flags": 1 << 19,  # GATEWAY_MESSAGE_CONTENT_LIMITED: the intent is granted
                "owner": user(USER_ID, "alice"),
                "team": None,
                "bot": cloud.bot_user(),
            }
        )

    async def gateway_bot(request: web.Request) -> web.Response:
        if not authorized(request):
            return error(401, "401: Unauthorized")
        cloud.calls.append({"route": "GET /gateway/bot", "at": time.monotonic()})
        limit = {"total": 1000, "remaining": 999, "reset_after": 86400000, "max_concurrency": 1}
        return reply({"url": cloud.gateway_url, "shards": 1, "session_start_limit": limit})

    async def gateway(request: web.Request) -> web.Response:
        return reply({"url": cloud.gateway_url})

    async def get_channel(request: web.Request) -> web.Response:
        if not authorized(request):
            return error(401, "401: Unauthorized")
        channel_id = int(request.match_info["channel"])
        cloud.calls.append(
            {"route": "GET /channels/{id}", "channel_id": channel_id, "at": time.monotonic()}
        )
        found = channel_object(channel_id)
        return reply(found) if found else error(404, "Unknown Channel", 10003)

    async def history(request: web.Request) -> web.Response:
        if not authorized(request):
            return error(401, "401: Unauthorized")
        channel_id = int(request.match_info["channel"])
        after = int(request.query.get("after", "0"))
        limit = min(int(request.query.get("limit", "50")), 100)
        cloud.calls.append(
            {"route": "GET /channels/{id}/messages", "channel_id": channel_id, "after": after}
        )
        found = [m for m in cloud.messages.get(channel_id, []) if int(m["id"]) > after]
        found.sort(key=lambda m: int(m["id"]))
        return reply(list(reversed(found[:limit])))  # newest first, as Discord

    async def create_message(request: web.Request) -> web.Response:
        if not authorized(request):
            return error(401, "401: Unauthorized")
        channel_id = int(request.match_info["channel"])
        record: dict[str, Any] = {
            "route": "POST /channels/{id}/messages",
            "channel_id": channel_id,
            "at": time.monotonic(),
        }
        payload: dict[str, Any] = {}
        files: list[dict[str, Any]] = []
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                data = bytes(await part.read())
                if part.name == "payload_json":
                    payload = json.loads(data)
                elif part.filename is not None:
                    files.append(
                        {
                            "field": part.name,
                            "filename": part.filename,
                            "content_type": part.headers.get("Content-Type", ""),
                            "data": data,
                        }
                    )
        else:
            payload = await request.json()
        record["json"] = payload
        record["files"] = [{**f, "data": base64.b64encode(f["data"]).decode()} for f in files]
        stop = limited("POST /channels/{id}/messages", record)
        if stop is not None:
            return stop
        if channel_object(channel_id) is None:
            cloud.calls.append({**record, "refused": "Unknown Channel"})
            return error(404, "Unknown Channel", 10003)
        content = payload.get("content") or ""
        if len(content) > 2000:
            cloud.calls.append({**record, "refused": "too long"})
            return error(400, "Invalid Form Body", 50035)
        if not content and not files:
            cloud.calls.append({**record, "refused": "empty"})
            return error(400, "Cannot send an empty message", 50006)
        extra: dict[str, Any] = {
            "content": content,
            "attachments": [
                cloud.attachment(f["data"], f["filename"], f["content_type"]) for f in files
            ],
        }
        ref = payload.get("message_reference")
        if ref:
            extra["message_reference"] = {
                "message_id": ref.get("message_id"),
                "channel_id": str(channel_id),
                "guild_id": str(GUILD_ID),
            }
            extra["type"] = 19
        msg = cloud.message(channel_id, cloud.bot_user(), **extra)
        cloud.calls.append({**record, "message_id": msg["id"]})
        await cloud.dispatch("MESSAGE_CREATE", msg)  # Discord echoes the bot's own messages
        return reply(msg)

    async def typing(request: web.Request) -> web.Response:
        if not authorized(request):
            return error(401, "401: Unauthorized")
        channel_id = int(request.match_info["channel"])
        cloud.calls.append(
            {
                "route": "POST /channels/{id}/typing",
                "channel_id": channel_id,
                "at": time.monotonic(),
            }
        )
        return web.Response(status=204)

    async def download(request: web.Request) -> web.StreamResponse:
        found = cloud.files.get(request.match_info["id"])
        cloud.calls.append({"route": "GET /attachments", "id": request.match_info["id"]})
        if found is None:
            return web.Response(status=404)
        data, kind = found
        return web.Response(body=data, content_type=kind or "application/octet-stream")

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        if not cloud.gateway_up:
            return web.Response(status=503)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        send = sender_for(ws, request.query.get("compress"))
        session: Session | None = None
        await send(
            {"op": HELLO, "d": {"heartbeat_interval": cloud.heartbeat_ms}, "s": None, "t": None}
        )
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            op, data = payload.get("op"), payload.get("d")
            if op == HEARTBEAT:
                await send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            elif op == IDENTIFY:
                if data.get("token") != cloud.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                cloud.identifies.append({"intents": data.get("intents"), "at": time.monotonic()})
                session = Session(secrets.token_hex(16), socket=ws, send=send)
                cloud.sessions[session.session_id] = session
                ready = {
                    "v": 10,
                    "user": cloud.bot_user(),
                    "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                    "session_id": session.session_id,
                    "resume_gateway_url": cloud.gateway_url,
                    "application": {"id": str(APP_ID), "flags": 1 << 19},
                }
                await cloud.dispatch_to(session, "READY", ready)
                await cloud.dispatch_to(session, "GUILD_CREATE", cloud.guild())
            elif op == RESUME:
                found = cloud.sessions.get(str(data.get("session_id")))
                if data.get("token") != cloud.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                if found is None:
                    await send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
                    continue
                seq = int(data.get("seq") or 0)
                cloud.resumes.append({"seq": seq, "missed": len(found.events) - seq})
                session = found
                session.socket, session.send = ws, send
                for event in session.events[seq:]:
                    await send(event)
                await cloud.dispatch_to(session, "RESUMED", {})
        if session is not None and session.socket is ws:
            session.socket = None
        return ws

    # -- what the test does ----------------------------------------------------------------
    async def inject(request: web.Request) -> web.Response:
        body = await request.json()
        channel_id = int(body.get("channel_id", CHANNEL_ID))
        author = body.get("author") or user(USER_ID, "alice")
        extra: dict[str, Any] = {"content": body.get("content", "")}
        if body.get("mentions_bot"):
            extra["mentions"] = [{**cloud.bot_user(), "member": member()}]
        if body.get("attachments"):
            extra["attachments"] = body["attachments"]
        if body.get("reply_to"):
            replied = next(
                (m for m in cloud.messages.get(channel_id, []) if m["id"] == body["reply_to"]),
                None,
            )
            extra["message_reference"] = {
                "message_id": body["reply_to"],
                "channel_id": str(channel_id),
                "guild_id": str(GUILD_ID),
            }
            extra["referenced_message"] = replied
            extra["type"] = 19
        msg = cloud.message(channel_id, author, **extra)
        await cloud.dispatch("MESSAGE_CREATE", msg)
        return reply(msg)

    async def add_file(request: web.Request) -> web.Response:
        data = await request.read()
        name = request.query.get("name", "file.bin")
        return reply(cloud.attachment(data, name, request.content_type))

    async def edit(request: web.Request) -> web.Response:
        body = await request.json()
        channel_id = int(body.get("channel_id", CHANNEL_ID))
        for msg in cloud.messages.get(channel_id, []):
            if msg["id"] == body["message_id"]:
                msg["content"] = body["content"]
                msg["edited_timestamp"] = now_iso()
                await cloud.dispatch("MESSAGE_UPDATE", msg)
                return reply(msg)
        return web.Response(status=404)

    async def delete(request: web.Request) -> web.Response:
        body = await request.json()
        channel_id = int(body.get("channel_id", CHANNEL_ID))
        msgs = cloud.messages.get(channel_id, [])
        cloud.messages[channel_id] = [m for m in msgs if m["id"] != body["message_id"]]
        data = {"id": body["message_id"], "channel_id": str(channel_id), "guild_id": str(GUILD_ID)}
        await cloud.dispatch("MESSAGE_DELETE", data)
        return reply({"ok": True})

    async def limit(request: web.Request) -> web.Response:
        body = await request.json()
        cloud.limits[body["route"]] = (int(body["times"]), float(body["retry_after"]))
        return reply({"ok": True})

    async def set_gateway(request: web.Request) -> web.Response:
        """{"up": false} closes every socket (code 4000, resumable) and refuses new ones;
        {"up": true} lets them in again; {"forget": true} drops every session (no RESUME)."""
        body = await request.json()
        if "up" in body:
            cloud.gateway_up = bool(body["up"])
        if not body.get("up", True):
            for session in list(cloud.sessions.values()):
                if session.socket is not None:
                    await session.socket.close(code=4000, message=b"Unknown error")
        if body.get("forget"):
            cloud.sessions.clear()
        return reply({"ok": True})

    async def state(request: web.Request) -> web.Response:
        live = [s.session_id for s in cloud.sessions.values() if s.socket is not None]
        return reply(
            {
                "calls": cloud.calls,
                "identifies": cloud.identifies,
                "resumes": cloud.resumes,
                "live_sessions": live,
            }
        )

    app.router.add_get("/api/v10/users/@me", me)
    app.router.add_get("/api/v10/oauth2/applications/@me", application)
    app.router.add_get("/api/v10/gateway/bot", gateway_bot)
    app.router.add_get("/api/v10/gateway", gateway)
    app.router.add_get("/api/v10/channels/{channel}", get_channel)
    app.router.add_get("/api/v10/channels/{channel}/messages", history)
    app.router.add_post("/api/v10/channels/{channel}/messages", create_message)
    app.router.add_post("/api/v10/channels/{channel}/typing", typing)
    app.router.add_get("/attachments/{id}/{name}", download)
    app.router.add_get("/gateway", ws_handler)
    app.router.add_post("/_test/message", inject)
    app.router.add_post("/_test/file", add_file)
    app.router.add_post("/_test/edit", edit)
    app.router.add_post("/_test/delete", delete)
    app.router.add_post("/_test/limit", limit)
    app.router.add_post("/_test/gateway", set_gateway)
    app.router.add_get("/_test/state", state)
    return app


class DiscordStandin(StandinProcess):
    """The stand-in process seen from a test."""

    platform = "Discord"
    script = __file__

    def __init__(self, token: str, workdir: Path, heartbeat_ms: int = HEARTBEAT_MS) -> None:
        super().__init__(workdir)
        self.token = token
        self.heartbeat_ms = heartbeat_ms

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    def serve_args(self) -> list[str]:
        return ["--token", self.token, "--heartbeat-ms", str(self.heartbeat_ms)]

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        resp = httpx.post(f"{self.url}/_test/{path}", json=body, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def user_message(
        self, content: str, *, channel_id: int = CHANNEL_ID, **extra: Any
    ) -> dict[str, Any]:
        """A user's message (MESSAGE_CREATE); the message object."""
        return dict(self._post("message", {"content": content, "channel_id": channel_id, **extra}))

    def add_file(self, data: bytes, name: str, kind: str) -> dict[str, Any]:
        resp = httpx.post(
            f"{self.url}/_test/file",
            params={"name": name},
            content=data,
            headers={"Content-Type": kind},
            timeout=10,
        )
        resp.raise_for_status()
        return dict(resp.json())

    def edit(self, message_id: str, content: str, channel_id: int = CHANNEL_ID) -> None:
        self._post("edit", {"message_id": message_id, "content": content, "channel_id": channel_id})

    def delete(self, message_id: str, channel_id: int = CHANNEL_ID) -> None:
        self._post("delete", {"message_id": message_id, "channel_id": channel_id})

    def limit(self, route: str, times: int, retry_after: float) -> None:
        self._post("limit", {"route": route, "times": times, "retry_after": retry_after})

    def gateway(self, **body: Any) -> None:
        self._post("gateway", body)

    def state(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_test/state", timeout=10).json())

    def calls(self, route: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.state()["calls"]
        return [c for c in found if route is None or c["route"] == route]

    def posted(self) -> list[dict[str, Any]]:
        """The messages the bot created (accepted POST channels/{id}/messages)."""
        return [c for c in self.calls("POST /channels/{id}/messages") if "message_id" in c]


def say(control: str, text: str, file: Path | None, channel_id: int) -> None:
    """A user says `text` (with `file` attached) in the channel, as the conformance kit needs."""
    body: dict[str, Any] = {"content": text, "channel_id": channel_id}
    if file is not None:
        resp = httpx.post(
            f"{control.rstrip('/')}/_test/file",
            params={"name": file.name},
            content=file.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
            timeout=10,
        )
        resp.raise_for_status()
        body["attachments"] = [resp.json()]
    resp = httpx.post(f"{control.rstrip('/')}/_test/message", json=body, timeout=10)
    resp.raise_for_status()
    print(resp.json()["id"])


def serve(token: str, port_file: Path, heartbeat_ms: int) -> None:
    cloud = Cloud(token, heartbeat_ms)

    def listening(port: int) -> None:
        cloud.base_url = f"http://127.0.0.1:{port}"

    serve_app(lambda: app_for(cloud), port_file, listening)


def main() -> None:
    parser = argparse.ArgumentParser(description="A stand-in for Discord's REST API and gateway.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="serve on 127.0.0.1 (a free port, written to --port-file)")
    run.add_argument("--token", required=True)
    run.add_argument("--port-file", type=Path, required=True)
    run.add_argument("--heartbeat-ms", type=int, default=HEARTBEAT_MS)
    talk = sub.add_parser("say", help="make a user send TEXT to the bot's channel")
    talk.add_argument("--control", required=True, metavar="URL", help="the stand-in's base URL")
    talk.add_argument("--file", type=Path, default=None, help="a file to attach")
    talk.add_argument("--channel", type=int, default=CHANNEL_ID)
    talk.add_argument("text")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.token, args.port_file, args.heartbeat_ms)
    else:
        say(args.control, args.text, args.file, args.channel)


if __name__ == "__main__":
    main()
