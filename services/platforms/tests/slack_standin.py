"""A stand-in for Slack's cloud, run as its own process (`python slack_standin.py serve
--port-file F`): the Web API methods slack_sdk calls (auth.test, apps.connections.open,
chat.postMessage, files.getUploadURLExternal + the upload URL + files.completeUploadExternal,
files.info and the url_private download) and the Socket Mode WebSocket (hello, events_api
envelopes redelivered until acked, disconnect). Answers as Slack documents them: HTTP 200
{"ok": true, ...} or {"ok": false, "error": "..."}; a rate limit is HTTP 429 with Retry-After.

The test drives it under /_test/: POST event (an event -> an envelope), POST events (a list of
events -> envelopes sent back to back on the socket, in that order), POST file, POST fail
({"method", "times", "error", "status", "retry_after"}), POST latency ({"max_s", "seed"}: each
Web API answer then takes its own time, so answers to concurrent calls come back in any order,
as Slack's do), POST drop ({"how": "close" or "disconnect"}), GET calls, GET acks. `say` is
the command line of the conformance kit: `python slack_standin.py say --control URL TEXT
[--file PATH]`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import mimetypes
import random
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Final

import httpx
from aiohttp import WSMsgType, web
from standin_process import StandinProcess, serve_app

BOT_TOKEN: Final = "xoxb-1111-2222-standinbottoken"
APP_TOKEN: Final = "xapp-1-A0STANDIN-3333-standinapptoken"
TEAM: Final = "T0STANDIN"
APP_ID: Final = "A0STANDIN"
BOT_USER: Final = "U0BOT"
BOT_ID: Final = "B0BOT"
HUMAN: Final = "U0ALICE"
CHANNEL: Final = "C0GENERAL"
REDELIVER_S: Final = 5.0  # an unacked envelope is sent again (Slack retries too)


class Cloud:
    """Slack's state: the queued envelopes, the sockets, files, channel clocks, every call."""

    def __init__(self, bot_token: str, app_token: str) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.port = 0
        self.calls: list[dict[str, Any]] = []
        self.failures: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, dict[str, Any]] = {}  # id -> meta + "data"
        self.uploads: dict[str, bytes] = {}  # file id -> uploaded bytes (before complete)
        self.tickets: set[str] = set()
        self.sockets: list[web.WebSocketResponse] = []
        self.pending: dict[str, dict[str, Any]] = {}  # envelope_id -> envelope (unacked)
        self.sent_at: dict[str, float] = {}
        self.acks: list[str] = []
        self.changed = asyncio.Event()
        self.clock = itertools.count(1)
        self.connections = 0
        self.latency_s = 0.0  # the most a Web API answer waits
        self.latency = random.Random(0)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ts(self) -> str:
        return f"{int(time.time())}.{next(self.clock):06d}"

    def envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        envelope_id = secrets.token_hex(8)
        event.setdefault("event_ts", event.get("ts") or self.ts())
        envelope = {
            "envelope_id": envelope_id,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "token": "verification-token-unused",
                "team_id": TEAM,
                "api_app_id": APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{secrets.token_hex(5).upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": TEAM,
                        "user_id": BOT_USER,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "is_ext_shared_channel": False,
                "event_context": secrets.token_hex(8),
            },
        }
        self.pending[envelope_id] = envelope
        self.sent_at[envelope_id] = 0.0
        self.changed.set()
        return envelope

    def file_meta(self, file_id: str, name: str, data: bytes) -> dict[str, Any]:
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        url = f"{self.base}/files-pri/{TEAM}-{file_id}/{name}"
        meta = {
            "id": file_id,
            "created": int(time.time()),
            "name": name,
            "title": name,
            "mimetype": kind,
            "filetype": name.rpartition(".")[2] or "binary",
            "user": HUMAN,
            "size": len(data),
            "mode": "hosted",
            "is_external": False,
            "url_private": url,
            "url_private_download": f"{url}?download=1",
        }
        self.files[file_id] = {**meta, "data": data}
        return meta


def answer(body: dict[str, Any], status: int = 200, **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers or None)


def bad(error: str, status: int = 200) -> web.Response:
    return answer({"ok": False, "error": error}, status)


async def params_of(request: web.Request) -> dict[str, Any]:
    """Form or JSON arguments, as slack_sdk sends them; JSON-looking strings decoded."""
    found: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        found.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        found.update(await request.post())
    for key, value in list(found.items()):
        if isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(ValueError):
                found[key] = json.loads(value)
    return found


def token_of(request: web.Request, params: dict[str, Any]) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth.removeprefix("Bearer ")
    token = params.get("token")
    return token if isinstance(token, str) else None


def app_for(cloud: Cloud) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)

    async def method(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        params = await params_of(request)
        token = token_of(request, params)
        record = {"method": name, "at": time.monotonic(), **printable(params)}
        if cloud.latency_s:
            await asyncio.sleep(cloud.latency.uniform(0, cloud.latency_s))
        queued = cloud.failures.get(name)
        if queued:
            failure = queued.pop(0)
            cloud.calls.append({**record, "failed": failure["error"]})
            headers = {}
            if failure.get("retry_after") is not None:
                headers["Retry-After"] = str(failure["retry_after"])
            return answer(
                {"ok": False, "error": failure["error"]}, int(failure.get("status", 200)), **headers
            )
        handler = HANDLERS.get(name)
        if handler is None:
            cloud.calls.append({**record, "failed": "unknown_method"})
            return bad("unknown_method", 404)
        wanted = cloud.app_token if name == "apps.connections.open" else cloud.bot_token
        if token is None:
            cloud.calls.append({**record, "failed": "not_authed"})
            return bad("not_authed")
        if token != wanted:
            other = cloud.bot_token if wanted == cloud.app_token else cloud.app_token
            error = "not_allowed_token_type" if token == other else "invalid_auth"
            cloud.calls.append({**record, "failed": error})
            return bad(error)
        found = await handler(cloud, params)
        cloud.calls.append({**record, "answer": found})
        return answer(found)

    async def upload(request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in cloud.uploads:
            return web.Response(status=404, text="unknown upload")
        data = await request.read()
        cloud.uploads[file_id] = data
        cloud.calls.append({"method": "upload", "at": time.monotonic(), "file_id": file_id})
        return web.Response(text=f"OK - {len(data)}")

    async def download(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization")
        cloud.calls.append(
            {"method": "download", "at": time.monotonic(), "path": request.path, "auth": given}
        )
        if given != f"Bearer {cloud.bot_token}":
            # Slack answers a login page, not the file, without the token.
            return web.Response(status=302, headers={"Location": "https://slack.com/signin"})
        file_id = request.match_info["ref"].removeprefix(f"{TEAM}-")
        meta = cloud.files.get(file_id)
        if meta is None:
            return web.Response(status=404)
        return web.Response(body=meta["data"], content_type=meta["mimetype"])

    async def link(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        if request.query.get("ticket") not in cloud.tickets:
            raise web.HTTPUnauthorized(text="bad ticket")
        cloud.tickets.discard(request.query["ticket"])
        await ws.prepare(request)
        cloud.connections += 1
        cloud.sockets.append(ws)
        for envelope_id in cloud.pending:
            cloud.sent_at[envelope_id] = 0.0  # the new connection gets what was not acked
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(cloud.sockets),
                "debug_info": {
                    "host": "applink-standin",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        )
        cloud.changed.set()
        sender = asyncio.create_task(pump(cloud, ws))
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                with contextlib.suppress(ValueError):
                    body = json.loads(frame.data)
                    acked = body.get("envelope_id") if isinstance(body, dict) else None
                    if isinstance(acked, str) and acked in cloud.pending:
                        del cloud.pending[acked]
                        cloud.acks.append(acked)
        finally:
            sender.cancel()
            if ws in cloud.sockets:
                cloud.sockets.remove(ws)
        return ws

    def queue(given: dict[str, Any]) -> dict[str, Any]:
        event = dict(given)
        event.setdefault("type", "message")
        event.setdefault("ts", cloud.ts())
        envelope = cloud.envelope(event)
        return {"envelope_id": envelope["envelope_id"], "ts": event["ts"]}

    async def inject(request: web.Request) -> web.Response:
        return web.json_response(queue((await request.json())["event"]))

    async def inject_many(request: web.Request) -> web.Response:
        # All queued before the pump runs again: it sends them without waiting between them.
        return web.json_response([queue(event) for event in (await request.json())["events"]])

    async def add_file(request: web.Request) -> web.Response:
        name = request.query.get("name", "file.bin")
        data = await request.read()
        file_id = f"F{secrets.token_hex(4).upper()}"
        return web.json_response(cloud.file_meta(file_id, name, data))

    async def fail(request: web.Request) -> web.Response:
        body = await request.json()
        times = int(body.pop("times", 1))
        cloud.failures.setdefault(body.pop("method"), []).extend([body] * times)
        return web.json_response({"ok": True})

    async def latency(request: web.Request) -> web.Response:
        body = await request.json()
        cloud.latency_s = float(body["max_s"])
        cloud.latency = random.Random(body.get("seed", 0))
        return web.json_response({"ok": True})

    async def drop(request: web.Request) -> web.Response:
        how = (await request.json()).get("how", "close")
        dropped = list(cloud.sockets)
        for ws in dropped:
            if how == "disconnect":
                await ws.send_json(
                    {
                        "type": "disconnect",
                        "reason": "refresh_requested",
                        "debug_info": {"host": "applink-standin"},
                    }
                )
            else:
                await ws.close()
        return web.json_response({"dropped": len(dropped)})

    async def state(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "calls": cloud.calls,
                "acks": cloud.acks,
                "pending": list(cloud.pending),
                "connections": cloud.connections,
                "open": len(cloud.sockets),
                "uploads": {k: base64.b64encode(v).decode() for k, v in cloud.uploads.items()},
            }
        )

    app.router.add_post("/api/{method}", method)
    app.router.add_get("/api/{method}", method)
    app.router.add_post("/upload/v1/{file_id}", upload)
    app.router.add_get("/files-pri/{ref}/{name}", download)
    app.router.add_get("/link/", link)
    app.router.add_post("/_test/event", inject)
    app.router.add_post("/_test/events", inject_many)
    app.router.add_post("/_test/file", add_file)
    app.router.add_post("/_test/fail", fail)
    app.router.add_post("/_test/latency", latency)
    app.router.add_post("/_test/drop", drop)
    app.router.add_get("/_test/state", state)
    return app


async def pump(cloud: Cloud, ws: web.WebSocketResponse) -> None:
    """Send each unacked envelope to this socket; again after REDELIVER_S without an ack."""
    while not ws.closed:
        now = time.monotonic()
        for envelope_id, envelope in list(cloud.pending.items()):
            last = cloud.sent_at.get(envelope_id, 0.0)
            if last and now - last < REDELIVER_S:
                continue
            if last:
                envelope["retry_attempt"] += 1
                envelope["retry_reason"] = "timeout"
            cloud.sent_at[envelope_id] = now
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(envelope)
        cloud.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(cloud.changed.wait(), 0.5)


def printable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "token"}


async def auth_test(cloud: Cloud, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "url": "https://standin.slack.com/",
        "team": "Stand-in",
        "user": "switchboard",
        "team_id": TEAM,
        "user_id": BOT_USER,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


async def connections_open(cloud: Cloud, params: dict[str, Any]) -> dict[str, Any]:
    ticket = secrets.token_hex(8)
    cloud.tickets.add(ticket)
    return {"ok": True, "url": f"ws://127.0.0.1:{cloud.port}/link/?ticket={ticket}"}


def own_message(cloud: Cloud, channel: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The message as Slack stores it, and its echo to the app (as Slack sends one)."""
    message = {
        "type": "message",
        "user": BOT_USER,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "team": TEAM,
        "ts": cloud.ts(),
        **extra,
    }
    cloud.envelope({**message, "channel": channel, "channel_type": "channel"})
    return message


async def post_message(cloud: Cloud, params: dict[str, Any]) -> dict[str, Any]:
    channel = params.get("channel")
    text = params.get("text")
    if not isinstance(channel, str) or not channel:
        return {"ok": False, "error": "channel_not_found"}
    if not isinstance(text, str) or not text.strip():
        return {"ok": False, "error": "no_text"}
    if len(text) > 40000:
        return {"ok": False, "error": "msg_too_long"}
    extra: dict[str, Any] = {"text": text}
    if params.get("thread_ts"):
        extra["thread_ts"] = params["thread_ts"]
    message = own_message(cloud, channel, extra)
    return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}


async def get_upload_url(cloud: Cloud, params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("filename") or not str(params.get("length", "")).isdigit():
        return {"ok": False, "error": "invalid_arguments"}
    file_id = f"F{secrets.token_hex(4).upper()}"
    cloud.uploads[file_id] = b""
    return {"ok": True, "upload_url": f"{cloud.base}/upload/v1/{file_id}", "file_id": file_id}


async def complete_upload(cloud: Cloud, params: dict[str, Any]) -> dict[str, Any]:
    files = params.get("files")
    if not isinstance(files, list) or not files:
        return {"ok": False, "error": "invalid_arguments"}
    done = []
    for item in files:
        file_id = item.get("id") if isinstance(item, dict) else None
        if file_id not in cloud.uploads:
            return {"ok": False, "error": "file_not_found"}
        title = str(item.get("title") or file_id)
        meta = cloud.file_meta(file_id, title, cloud.uploads[file_id])
        done.append(meta)
    channel = params.get("channel_id")
    if isinstance(channel, str) and channel:
        extra: dict[str, Any] = {"subtype": "file_share", "text": "", "files": done}
        if params.get("thread_ts"):
            extra["thread_ts"] = params["thread_ts"]
        own_message(cloud, channel, extra)
    return {"ok": True, "files": done}


async def files_info(cloud: Cloud, params: dict[str, Any]) -> dict[str, Any]:
    meta = cloud.files.get(str(params.get("file", "")))
    if meta is None:
        return {"ok": False, "error": "file_not_found"}
    return {"ok": True, "file": {k: v for k, v in meta.items() if k != "data"}}


HANDLERS = {
    "auth.test": auth_test,
    "apps.connections.open": connections_open,
    "chat.postMessage": post_message,
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
    "files.info": files_info,
}


class SlackStandin(StandinProcess):
    """The stand-in process seen from a test."""

    platform = "Slack"
    script = __file__

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def files_url(self) -> str:
        return f"{self.url}/files-pri/"

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Queue an event for the app; its envelope_id and ts."""
        resp = httpx.post(f"{self.url}/_test/event", json={"event": event}, timeout=10)
        resp.raise_for_status()
        found: dict[str, Any] = resp.json()
        return found

    def events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue events to go out back to back on the socket, in this order; their ids and ts."""
        resp = httpx.post(f"{self.url}/_test/events", json={"events": events}, timeout=10)
        resp.raise_for_status()
        found: list[dict[str, Any]] = resp.json()
        return found

    def user_message(
        self, text: str, *, channel: str = CHANNEL, user: str = HUMAN, **extra: Any
    ) -> dict[str, Any]:
        return self.event(user_event(text, channel=channel, user=user, **extra))

    def add_file(self, name: str, data: bytes) -> dict[str, Any]:
        resp = httpx.post(f"{self.url}/_test/file", params={"name": name}, content=data)
        resp.raise_for_status()
        found: dict[str, Any] = resp.json()
        return found

    def fail(
        self,
        method: str,
        error: str,
        *,
        times: int = 1,
        status: int = 200,
        retry_after: int | None = None,
    ) -> None:
        body = {
            "method": method,
            "error": error,
            "times": times,
            "status": status,
            "retry_after": retry_after,
        }
        httpx.post(f"{self.url}/_test/fail", json=body, timeout=10).raise_for_status()

    def latency(self, max_s: float, seed: int = 0) -> None:
        """Each Web API answer from now waits up to `max_s` (a seeded draw per call)."""
        body = {"max_s": max_s, "seed": seed}
        httpx.post(f"{self.url}/_test/latency", json=body, timeout=10).raise_for_status()

    def drop(self, how: str = "close") -> int:
        resp = httpx.post(f"{self.url}/_test/drop", json={"how": how}, timeout=10)
        return int(resp.json()["dropped"])

    def state(self) -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(f"{self.url}/_test/state", timeout=10).json()
        return found

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.state()["calls"] if method is None or c["method"] == method]

    def posted(self) -> list[dict[str, Any]]:
        """The chat.postMessage calls Slack accepted."""
        return [c for c in self.calls("chat.postMessage") if "answer" in c and c["answer"]["ok"]]


def user_event(
    text: str, *, channel: str = CHANNEL, user: str = HUMAN, **extra: Any
) -> dict[str, Any]:
    """A person's message event as Slack sends it."""
    return {
        "type": "message",
        "channel": channel,
        "channel_type": "im" if channel.startswith("D") else "channel",
        "user": user,
        "team": TEAM,
        "text": text,
        **extra,
    }


def say(control: str, text: str, file: Path | None, channel: str, thread: str | None) -> None:
    """Deliver a user's message (with a file) to the bot, as the conformance kit does."""
    event = user_event(text, channel=channel)
    if thread:
        event["thread_ts"] = thread
    base = control.rstrip("/")
    if file is not None:
        meta = httpx.post(
            f"{base}/_test/file", params={"name": file.name}, content=file.read_bytes()
        ).json()
        event["subtype"] = "file_share"
        event["files"] = [meta]
    resp = httpx.post(f"{base}/_test/event", json={"event": event}, timeout=10)
    resp.raise_for_status()
    sys.stdout.write(json.dumps(resp.json()) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the stand-in")
    serve_p.add_argument("--port-file", type=Path, required=True)
    serve_p.add_argument("--bot-token", default=BOT_TOKEN)
    serve_p.add_argument("--app-token", default=APP_TOKEN)
    say_p = sub.add_parser("say", help="make the stand-in deliver a user's message")
    say_p.add_argument("--control", required=True, help="the stand-in's base URL")
    say_p.add_argument("--file", type=Path)
    say_p.add_argument("--channel", default=CHANNEL)
    say_p.add_argument("--thread", help="the thread_ts to post in")
    say_p.add_argument("text")
    args = parser.parse_args()
    if args.command == "say":
        say(args.control, args.text, args.file, args.channel, args.thread)
        return

    cloud = Cloud(args.bot_token, args.app_token)

    def listening(port: int) -> None:
        cloud.port = port

    serve_app(lambda: app_for(cloud), args.port_file, listening)


if __name__ == "__main__":
    main()
