"""`GatedStandin`: gated's channel API as protocol v1.1 describes it (register with send_secret
and capabilities, /v1/files, /v1/messages with thread_id and the other v1.1 fields), served
in-process on a thread, for testing an adapter before the real gated speaks v1.1. It records
what the adapter posted and calls the adapter's /send and /typing the way gated would. With
`protocol="1.0"` it answers as today's gated (no "protocol", no /v1/files)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
from typing import Any

import httpx
from aiohttp import web


class GatedStandin:
    def __init__(self, channel_secret: str, *, protocol: str = "1.1") -> None:
        self.channel_secret = channel_secret
        self.protocol = protocol
        self.lock = threading.Lock()
        self.registrations: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.seqs: dict[tuple[str, str], int] = {}
        self.token: str | None = None
        self.fail_messages = 0  # answer 503 to this many more message posts
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- life cycle ----------------------------------------------------------------------------
    def start(self, port: int = 0) -> GatedStandin:
        if not self.thread.is_alive():
            self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(port), self.loop).result(10)
        return self

    async def _start(self, port: int) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/channels/register", self._register)
        app.router.add_post("/v1/messages", self._message)
        app.router.add_get("/v1/health", self._health)
        if self.protocol == "1.1":
            app.router.add_post("/v1/files", self._file)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def stop(self) -> None:
        """Stop serving (the port is kept for a later `start(self.port)`)."""
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
            self.runner = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    # -- what the adapter sees -----------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        return self.token is not None and request.headers.get("Authorization") == (
            f"Bearer {self.token}"
        )

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": "standin"})

    async def _register(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.channel_secret}":
            return web.json_response(
                {"error": "wrong secret", "field": "Authorization"}, status=401
            )
        body = await request.json()
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.registrations.append(body)
            self.token = token
        answer: dict[str, Any] = {
            "name": body["name"],
            "token": token,
            "jid_prefixes": body.get("jid_prefixes", []),
            "max_message_chars": body.get("max_message_chars", 4000),
        }
        if self.protocol == "1.1":
            answer.update(protocol="1.1", capabilities=body.get("capabilities"))
        return web.json_response(answer)

    async def _message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unknown token"}, status=401)
        body = await request.json()
        with self.lock:
            if self.fail_messages > 0:
                self.fail_messages -= 1
                return web.json_response({"error": "database unavailable"}, status=503)
            for a in body.get("attachments") or []:
                if "sha256" in a and a["sha256"] not in self.files:
                    return web.json_response({"error": "attachments: no such file"}, status=422)
            key = (body["chat_jid"], body["id"])
            if key in self.seqs:
                return web.json_response({"seq": self.seqs[key], "duplicate": True}, status=202)
            self.messages.append(body)
            self.seqs[key] = len(self.messages)
            return web.json_response({"seq": len(self.messages), "duplicate": False}, status=202)

    async def _file(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unknown token"}, status=401)
        data = await request.read()
        digest = hashlib.sha256(data).hexdigest()
        with self.lock:
            self.files[digest] = data
        return web.json_response(
            {"sha256": digest, "size": len(data), "type": request.content_type}, status=201
        )

    # -- what the test does as gated -----------------------------------------------------------
    def revoke_token(self) -> None:
        """Forget the channel's token (as a re-registration elsewhere would): next post is 401."""
        with self.lock:
            self.token = None

    @property
    def registration(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.registrations[-1])

    def posted(self, chat_jid: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if chat_jid is None or m["chat_jid"] == chat_jid]

    def send(
        self,
        body: dict[str, Any],
        *,
        secret: str | None = "registered",  # noqa: S107 (a mode, not a secret)
        timeout: float = 30,
    ) -> httpx.Response:
        """POST {adapter}/send as gated does (with the registered send secret by default;
        `secret=None` sends no Authorization, any other value that one)."""
        reg = self.registration
        headers = {}
        if secret == "registered":  # noqa: S105
            headers["Authorization"] = f"Bearer {reg['send_secret']}"
        elif secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        return httpx.post(f"{reg['url']}/send", json=body, headers=headers, timeout=timeout)

    def typing(self, chat_jid: str, thread_id: str | None = None) -> httpx.Response:
        reg = self.registration
        return httpx.post(
            f"{reg['url']}/typing",
            json={"chat_jid": chat_jid, "thread_id": thread_id},
            headers={"Authorization": f"Bearer {reg['send_secret']}"},
            timeout=10,
        )
