"""The adapter's HTTP server that gated calls: POST /send (send-secret check, a text over
max_text refused with 413, idempotency-key de-duplication persisted in State, platform
failures as 503/429 + Retry-After or 422), POST /typing and GET /health."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import weakref
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web
from store import log_safe

from adapterkit.errors import PermanentFailure, TemporaryFailure
from adapterkit.payloads import BadSend, decode_send
from adapterkit.platform import Platform
from adapterkit.state import SqliteState

log = logging.getLogger(__name__)

TYPING_TIMEOUT_S: Final = 5.0
HEALTH_TIMEOUT_S: Final = 5.0
SMALL_BODY: Final = 64 * 1024


def max_send_body(max_file_bytes: int) -> int:
    """The largest /send body read: the text plus two files at the cap, base64-encoded."""
    return 2 * (max_file_bytes * 4 // 3 + 4) + 1024 * 1024


def answer(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


class AdapterServer:
    """`app` serves gated's calls for one platform. `legacy()` is True while gated speaks
    protocol 1.0 (it sends no Authorization): only then is a call without it accepted."""

    def __init__(
        self,
        platform: Platform,
        state: SqliteState,
        *,
        send_secret: str,
        legacy: Callable[[], bool],
    ) -> None:
        self.platform = platform
        self.state = state
        self.send_secret = send_secret
        self.legacy = legacy
        self.max_file_bytes = platform.capabilities.max_file_bytes
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.app = web.Application(client_max_size=max_send_body(self.max_file_bytes))
        self.app.router.add_post("/send", self.send)
        self.app.router.add_post("/typing", self.typing)
        self.app.router.add_get("/health", self.health)

    def authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization")
        if given is None:
            return self.legacy()
        return hmac.compare_digest(given.encode(), f"Bearer {self.send_secret}".encode())

    def refuse(self, request: web.Request) -> web.Response:
        log.warning(
            "refused %s %s without the send secret from=%s",
            request.method,
            request.path,
            request.remote,
        )
        return answer(401, {"error": "missing or wrong send secret", "field": "Authorization"})

    async def read_json(self, request: web.Request, limit: int | None = None) -> Any:
        """The JSON body; web.HTTPException (400/413) when it is not one."""
        if limit is not None and (request.content_length or 0) > limit:
            raise web.HTTPRequestEntityTooLarge(
                max_size=limit, actual_size=request.content_length or 0
            )
        data = await request.read()
        if limit is not None and len(data) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(data))
        try:
            return json.loads(data)
        except ValueError:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": "body is not JSON", "field": "body"}),
                content_type="application/json",
            ) from None

    async def send(self, request: web.Request) -> web.Response:
        # The secret is checked before a byte of the body is read.
        if not self.authorized(request):
            return self.refuse(request)
        body = await self.read_json(request)
        try:
            out = decode_send(body, self.platform.name, self.max_file_bytes)
        except BadSend as exc:
            log.warning("send refused field=%s reason=%s", exc.field, log_safe(exc.reason))
            return answer(400, {"error": str(exc), "field": exc.field})
        key = out.idempotency_key
        lock = self._locks.setdefault(key, asyncio.Lock())
        where = f"chat={log_safe(out.chat_jid)} key={log_safe(key)}"
        longest, limit = max(len(out.text), len(out.plain)), self.platform.capabilities.max_text
        if longest > limit:
            # gated splits to max_text: a longer part is refused, never cut or split here.
            log.warning("send refused %s text=%d characters max_text=%d", where, longest, limit)
            return answer(
                413,
                {"error": f"text: {longest} characters; max_text is {limit}", "field": "text"},
            )
        async with lock:  # a retry racing the first try waits for its answer
            earlier = self.state.sent_part(key)
            if earlier is not None:
                log.info(
                    "send repeated, not posted again %s remote_id=%s", where, earlier.remote_id
                )
                return answer(200, {"remote_id": earlier.remote_id, "duplicate": True})
            try:
                remote_id = await self.platform.send(out)
            except TemporaryFailure as exc:
                return self.temporary(where, exc)
            except PermanentFailure as exc:
                log.warning("send failed for good %s reason=%s", where, log_safe(str(exc)))
                return answer(422, {"error": str(exc)})
            except Exception as exc:
                log.exception("send failed unexpectedly %s", where)
                return answer(503, {"error": f"{type(exc).__name__}: {exc}"[:300]})
            self.state.record_sent(key, out.chat_jid, remote_id)
        log.info(
            "sent %s part=%d/%d files=%d remote_id=%s%s",
            where,
            out.part,
            out.parts,
            len(out.files),
            remote_id,
            f" thread={log_safe(out.thread_id)}" if out.thread_id else "",
        )
        return answer(200, {"remote_id": remote_id})

    def temporary(self, where: str, exc: TemporaryFailure) -> web.Response:
        if exc.retry_after is not None:
            seconds = max(1, math.ceil(exc.retry_after))
            log.warning(
                "send rate-limited %s retry_after=%ds reason=%s",
                where,
                seconds,
                log_safe(exc.reason),
            )
            return answer(
                429,
                {"error": exc.reason, "retry_after": seconds},
                {"Retry-After": str(seconds)},
            )
        log.warning("send failed, gated will retry %s reason=%s", where, log_safe(exc.reason))
        return answer(503, {"error": exc.reason})

    async def typing(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return self.refuse(request)
        body = await self.read_json(request, SMALL_BODY)
        chat_jid = body.get("chat_jid") if isinstance(body, dict) else None
        thread_id = body.get("thread_id") if isinstance(body, dict) else None
        if not isinstance(chat_jid, str) or not chat_jid.startswith(f"{self.platform.name}:"):
            return answer(
                400, {"error": "chat_jid: not a chat of this channel", "field": "chat_jid"}
            )
        if thread_id is not None and not isinstance(thread_id, str):
            return answer(400, {"error": "thread_id: must be a string", "field": "thread_id"})
        try:
            await asyncio.wait_for(self.platform.typing(chat_jid, thread_id), TYPING_TIMEOUT_S)
        except Exception as exc:
            log.debug("typing failed chat=%s: %s", log_safe(chat_jid), exc)
            return answer(200, {"ok": False})
        return answer(200, {"ok": True})

    async def health(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return self.refuse(request)
        try:
            problem = await asyncio.wait_for(self.platform.health(), HEALTH_TIMEOUT_S)
        except Exception as exc:
            problem = f"health check failed: {type(exc).__name__}"
        if problem is None:
            return answer(200, {"status": "ok"})
        return answer(503, {"status": "down", "error": problem})
