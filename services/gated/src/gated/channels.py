"""gated's channel HTTP API (FastAPI): adapters register with the shared secret, then post their
chats' messages with their channel token. Every rejection is a 4xx JSON `{error, field}`."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import threading
import time
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import store
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from gated import __version__
from gated.adapters import Channel, channel_by_token_hash, register_channel
from gated.config import GatedConfig
from gated.split import DEFAULT_MAX_CHARS

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 256 * 1024
CHANNEL_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# Prefixes gated delivers itself (web: read by dashd, cli: by `switchboard chat`, email: SMTP).
RESERVED_CHANNELS: Final = frozenset({"web", "cli", "email"})
MAX_PREFIXES: Final = 16
MIN_MESSAGE_CHARS: Final = 50
MAX_MESSAGE_CHARS: Final = 100_000
MAX_URL_CHARS: Final = 2000
# A token's channel is remembered this long; registration through this API clears it at once.
TOKEN_CACHE_S: Final = 5.0

M = TypeVar("M", bound="BaseModel")


class RegisterIn(BaseModel):
    """Body of POST /v1/channels/register."""

    model_config = ConfigDict(strict=True)

    name: str
    url: str
    jid_prefixes: list[str] = []
    max_message_chars: int = DEFAULT_MAX_CHARS


class RegisterOut(BaseModel):
    name: str
    token: str
    jid_prefixes: list[str]
    max_message_chars: int


class MessageIn(BaseModel):
    """Body of POST /v1/messages: one inbound chat message."""

    model_config = ConfigDict(strict=True)

    chat_jid: str
    id: str
    content: str
    sender: str | None = None
    sender_name: str | None = None
    timestamp: str | None = None
    reply_to_id: str | None = None
    chat_name: str | None = None
    is_group: bool = False
    attachments: list[dict[str, Any]] | None = None


class MessageAccepted(BaseModel):
    seq: int
    duplicate: bool


class ErrorOut(BaseModel):
    error: str
    field: str | None


class ApiError(Exception):
    """A request gated refuses: HTTP status, what is wrong, and which field."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field


def token_hash(token: str) -> str:
    """How a channel token is stored (sha256 hex): a leaked db does not leak tokens."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 409, 413, 422, 503)
}


def create_app(config: GatedConfig) -> FastAPI:
    """The channel API bound to `config.db` (already migrated by the daemon)."""
    api = ChannelApi(config)
    app = FastAPI(
        title="Switchboard gated channel API",
        version=__version__,
        description="Channel adapters register here and post their chats' messages.",
    )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            {"error": exc.error, "field": exc.field}, status_code=exc.status, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail), "field": None}, status_code=exc.status_code)

    @app.exception_handler(sqlite3.Error)
    async def db_error(request: Request, exc: sqlite3.Error) -> JSONResponse:
        log.error("database error path=%s error=%s", request.url.path, exc)
        return JSONResponse(
            {"error": "database unavailable, retry later", "field": None}, status_code=503
        )

    @app.get("/v1/health", summary="gated is up")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.post(
        "/v1/channels/register",
        summary="Register (or re-register) a channel adapter; returns its bearer token",
        response_model=RegisterOut,
        responses=ERROR_RESPONSES,
        openapi_extra=_json_body_doc(RegisterIn),
    )
    async def register(request: Request) -> JSONResponse:
        body = await read_capped(request)
        out = await run_in_threadpool(api.register, request.headers.get("authorization"), body)
        return JSONResponse(out.model_dump())

    @app.post(
        "/v1/messages",
        summary="Post one inbound message (idempotent on chat_jid + id)",
        status_code=202,
        response_model=MessageAccepted,
        responses=ERROR_RESPONSES,
        openapi_extra=_json_body_doc(MessageIn),
    )
    async def post_message(request: Request) -> JSONResponse:
        body = await read_capped(request)
        out = await run_in_threadpool(api.post_message, request.headers.get("authorization"), body)
        # A ready Response skips FastAPI's response_model re-validation (which is only for docs).
        return JSONResponse({"seq": out.seq, "duplicate": out.duplicate}, status_code=202)

    return app


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, f"bad Content-Length {declared[:40]!r}", "Content-Length")
        if int(declared) > limit:
            raise ApiError(413, f"body is {declared} bytes; the limit is {limit}", "body")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"body exceeds the limit of {limit} bytes", "body")
        chunks.append(chunk)
    return b"".join(chunks)


def bearer(authorization: str | None) -> str:
    if not authorization:
        raise ApiError(401, "missing Authorization: Bearer <token> header", "Authorization")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "Authorization must be 'Bearer <token>'", "Authorization")
    return value.strip()


def parse_body(model: type[M], body: bytes) -> M:
    """Validate a JSON body; the first problem becomes a 400 (not JSON) or 422 naming the field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        if err["type"] == "json_invalid":
            raise ApiError(400, f"body is not valid JSON: {err['msg']}", "body") from None
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise ApiError(422, f"{field}: {err['msg']}", field) from None


def _check_encodable(values: dict[str, Any]) -> None:
    """Lone surrogates (legal in JSON escapes) cannot be stored as UTF-8: refuse them."""
    for field, value in values.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(422, f"{field}: not valid Unicode text", field) from None


class ChannelApi:
    """The request handlers' work, run in the thread pool with one connection per thread."""

    def __init__(self, config: GatedConfig) -> None:
        self.config = config
        self._local = threading.local()
        self._tokens: dict[str, tuple[Channel, float]] = {}

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = store.connect(self.config.db)
        return conn

    def register(self, authorization: str | None, body: bytes) -> RegisterOut:
        secret = self.config.channel_secret
        if not secret:
            raise ApiError(
                503,
                "channel registration is disabled: set SWITCHBOARD_CHANNEL_SECRET for gated",
                None,
            )
        given = bearer(authorization)
        if not hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode()):
            raise ApiError(401, "wrong channel secret", "Authorization")
        req = parse_body(RegisterIn, body)
        _check_encodable(req.model_dump())
        _validate_registration(req)
        token = secrets.token_urlsafe(32)
        try:
            channel = register_channel(
                self.conn,
                req.name,
                token_hash(token),
                req.url,
                jid_prefixes=req.jid_prefixes,
                max_message_chars=req.max_message_chars,
            )
        except store.InvalidInput as exc:
            raise ApiError(409, str(exc), exc.field) from None
        self._tokens.clear()  # the channel's old token stops working now
        log.info("channel registered name=%s url=%s", channel.name, channel.url)
        return RegisterOut(
            name=channel.name,
            token=token,
            jid_prefixes=list(channel.jid_prefixes),
            max_message_chars=channel.max_message_chars,
        )

    def post_message(self, authorization: str | None, body: bytes) -> MessageAccepted:
        channel = self._channel(bearer(authorization))
        req = parse_body(MessageIn, body)
        prefix = req.chat_jid.partition(":")[0]
        try:
            store.validate.jid(req.chat_jid)
        except store.InvalidInput as exc:
            raise ApiError(422, str(exc), exc.field) from None
        if prefix not in channel.prefixes:
            raise ApiError(
                403,
                f"channel {channel.name!r} may not post to {req.chat_jid!r} "
                f"(its jid prefixes: {', '.join(channel.prefixes)})",
                "chat_jid",
            )
        if req.timestamp:
            try:
                store.parse_iso(req.timestamp)
            except (ValueError, OverflowError):
                raise ApiError(
                    422,
                    f"timestamp: not an ISO-8601 time with zone: {req.timestamp[:60]!r}",
                    "timestamp",
                ) from None
        msg = store.NewMessage(
            id=req.id,
            chat_jid=req.chat_jid,
            content=req.content,
            sender=req.sender or "",
            sender_name=req.sender_name or "",
            timestamp=req.timestamp or "",
            source=channel.name,
            reply_to_id=req.reply_to_id,
            attachments=req.attachments,
            chat_name=req.chat_name or "",
            is_group=req.is_group,
        )
        try:
            result = store.put_message(self.conn, msg)
        except store.InvalidInput as exc:
            raise ApiError(422, str(exc), exc.field) from None
        except UnicodeEncodeError:  # a lone surrogate; the JSON parser normally refuses these
            raise ApiError(422, "body: text is not valid Unicode", "body") from None
        return MessageAccepted(seq=result.seq, duplicate=result.duplicate)

    def _channel(self, token: str) -> Channel:
        digest = token_hash(token)
        cached = self._tokens.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        channel = channel_by_token_hash(self.conn, digest)
        if channel is None:
            raise ApiError(401, "unknown channel token; register first", "Authorization")
        self._tokens[digest] = (channel, time.monotonic() + TOKEN_CACHE_S)
        return channel


def _validate_registration(req: RegisterIn) -> None:
    if not CHANNEL_NAME_RE.match(req.name):
        raise ApiError(
            422, f"name: {req.name[:40]!r} is not a channel name (a-z, 0-9, '-', '_')", "name"
        )
    if req.name in RESERVED_CHANNELS:
        raise ApiError(422, f"name: {req.name!r} is reserved for a built-in channel", "name")
    if len(req.jid_prefixes) > MAX_PREFIXES:
        raise ApiError(422, f"jid_prefixes: at most {MAX_PREFIXES} prefixes", "jid_prefixes")
    for prefix in req.jid_prefixes:
        if not CHANNEL_NAME_RE.match(prefix) or prefix in RESERVED_CHANNELS:
            raise ApiError(
                422, f"jid_prefixes: {prefix[:40]!r} is not an allowed jid prefix", "jid_prefixes"
            )
    try:
        parts = urlsplit(req.url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if len(req.url) > MAX_URL_CHARS or not ok:
        raise ApiError(422, f"url: {req.url[:80]!r} is not an http(s) URL", "url")
    if not MIN_MESSAGE_CHARS <= req.max_message_chars <= MAX_MESSAGE_CHARS:
        raise ApiError(
            422,
            f"max_message_chars: {req.max_message_chars} is outside "
            f"{MIN_MESSAGE_CHARS}..{MAX_MESSAGE_CHARS}",
            "max_message_chars",
        )
