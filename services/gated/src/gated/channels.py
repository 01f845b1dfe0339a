"""gated's channel HTTP API (FastAPI): adapters register with the shared secret, then post their
chats' messages with their channel token. Every rejection is a 4xx JSON `{error, field}`."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import time
from dataclasses import replace
from typing import Any, Final, TypeVar

import store
from daemonkit import tracing
from daemonkit.metrics import NO_STORE, metrics_answer
from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from store import log_safe
from store.blobs import BlobWriter

from gated import __version__, filenames, registration, uploads
from gated.adapters import Channel, channel_by_token_hash, register_channel
from gated.channel_models import (
    Capabilities,
    ErrorOut,
    FileStored,
    MessageAccepted,
    MessageIn,
    RegisterIn,
    RegisterOut,
)
from gated.config import Config
from gated.inbound import inbound_message
from gated.threads import topic_for_thread

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 256 * 1024
# A token's channel is remembered this long; registration through this API clears it at once.
TOKEN_CACHE_S: Final = 5.0
# Documents the bearer scheme in /openapi.json; the handlers check the header themselves.
BEARER_SCHEME: Final = HTTPBearer(
    auto_error=False,
    description="register: the channel secret; messages: the channel's token",
)

M = TypeVar("M", bound="BaseModel")


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
    schema = {"application/json": {"schema": _inline_refs(model.model_json_schema())}}
    return {"requestBody": {"required": True, "content": schema}}


FILE_BODY_DOC: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        "description": "the file's bytes; `Content-Type` is its type, `X-Filename` its "
        "percent-encoded UTF-8 name",
    },
    "parameters": [
        {
            "name": "X-Filename",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 3 * filenames.MAX_NAME_CHARS * 4},
            "description": "percent-encoded UTF-8 file name (no control or bidi characters)",
        }
    ],
}


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its nested models (`$defs`) written in place: the body
    schema sits inside the OpenAPI document, where `#/$defs/...` would point nowhere."""
    defs = schema.pop("$defs", {})

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            ref = value.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return dict(resolve(schema))


ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 405, 408, 409, 413, 422, 503)
}


def create_app(config: Config, metrics: CollectorRegistry | None = None) -> FastAPI:
    """The channel API bound to `config.db` (already migrated by the daemon); with `metrics`,
    also `GET /metrics` (loopback or the scrape token, see daemonkit.metrics)."""
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
        # exc.headers carries e.g. the `Allow` of a 405.
        return JSONResponse(
            {"error": str(exc.detail), "field": None},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(sqlite3.Error)
    async def db_error(request: Request, exc: sqlite3.Error) -> JSONResponse:
        log.error("database error path=%s error=%s", log_safe(request.url.path), exc)
        return JSONResponse(
            {"error": "database unavailable, retry later", "field": None}, status_code=503
        )

    @app.get("/v1/health", summary="gated is up")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    if metrics is not None:
        registry = metrics

        @app.get("/metrics", include_in_schema=False)
        async def metrics_page(request: Request) -> Response:
            client = request.client.host if request.client else None
            status, body, content_type = await run_in_threadpool(
                metrics_answer, registry, client, request.headers, config.metrics_token
            )
            return Response(body, status_code=status, media_type=content_type, headers=NO_STORE)

    @app.post(
        "/v1/channels/register",
        summary="Register (or re-register) a channel adapter; returns its bearer token",
        response_model=RegisterOut,
        responses=ERROR_RESPONSES,
        openapi_extra=_json_body_doc(RegisterIn),
        dependencies=[Security(BEARER_SCHEME)],
    )
    async def register(request: Request) -> JSONResponse:
        # The secret is checked before a byte of the body is read.
        api.check_secret(request.headers.get("authorization"))
        body = await read_capped(request)
        out = await run_in_threadpool(api.register, body)
        return JSONResponse(out.model_dump(exclude_none=True))

    @app.post(
        "/v1/messages",
        summary="Post one inbound message (idempotent on chat_jid + id)",
        status_code=202,
        response_model=MessageAccepted,
        responses=ERROR_RESPONSES,
        openapi_extra=_json_body_doc(MessageIn),
        dependencies=[Security(BEARER_SCHEME)],
    )
    async def post_message(request: Request) -> JSONResponse:
        # The token is checked before a byte of the body is read.
        channel = await run_in_threadpool(api.channel, request.headers.get("authorization"))
        body = await read_capped(request)
        parent = request.headers.get("traceparent")
        out = await run_in_threadpool(api.post_message, channel, body, parent)
        # A ready Response skips FastAPI's response_model re-validation (which is only for docs).
        return JSONResponse({"seq": out.seq, "duplicate": out.duplicate}, status_code=202)

    @app.post(
        "/v1/files",
        summary="Upload one file (raw body) for a later message's attachments (by sha256)",
        status_code=201,
        response_model=FileStored,
        responses=ERROR_RESPONSES,
        openapi_extra=FILE_BODY_DOC,
        dependencies=[Security(BEARER_SCHEME)],
    )
    async def post_file(request: Request) -> JSONResponse:
        # The token, the announced length and the headers are checked before the body is read.
        channel = await run_in_threadpool(api.channel, request.headers.get("authorization"))
        limit = config.max_file_bytes
        check_length(request, limit, "file")
        try:
            head = uploads.upload_headers(request.headers)
        except store.InvalidInput as exc:
            raise ApiError(422, str(exc), exc.field) from None
        writer = await run_in_threadpool(api.blob_writer)
        try:
            sha = await uploads.receive(request.stream(), writer, limit)
        except uploads.FileTooLarge as exc:
            raise ApiError(413, str(exc), "file") from None
        except uploads.UploadCut as exc:
            await run_in_threadpool(writer.abort)
            raise went_away(request, exc.received) from None
        finally:
            await run_in_threadpool(writer.abort)  # nothing half-written stays (no-op if stored)
        log.info(
            "file uploaded channel=%s sha256=%s size=%d name=%s",
            log_safe(channel.name),
            sha,
            writer.size,
            log_safe(head.name or ""),
        )
        return JSONResponse(
            {"sha256": sha, "size": writer.size, "type": head.type}, status_code=201
        )

    return app


def check_length(request: Request, limit: int, field: str) -> None:
    """Refuse a request whose Content-Length is malformed (400) or over `limit` (413)."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise ApiError(400, f"bad Content-Length {declared[:40]!r}", "Content-Length")
    if int(declared) > limit:
        raise ApiError(413, f"{field} is {declared} bytes; the limit is {limit}", field)


def went_away(request: Request, read: int) -> ApiError:
    """Log a client that disconnected mid-body (one line, not a traceback: anyone can do
    this); the error nobody is left to receive."""
    client = request.client.host if request.client else "?"
    log.info(
        "client went away mid-body path=%s client=%s read=%d bytes",
        log_safe(request.url.path),
        log_safe(client),
        read,
    )
    return ApiError(400, "the client disconnected before the body was complete", "body")


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    check_length(request, limit, "body")
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise ApiError(413, f"body exceeds the limit of {limit} bytes", "body")
            chunks.append(chunk)
    except ClientDisconnect:
        raise went_away(request, total) from None
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

    def __init__(self, config: Config) -> None:
        self.config = config
        self._conns = store.ThreadConnections(config.db)
        self._tokens: dict[str, tuple[Channel, float]] = {}

    @property
    def conn(self) -> sqlite3.Connection:
        """The calling thread's connection (handlers run on a thread pool)."""
        return self._conns.get()

    def check_secret(self, authorization: str | None) -> None:
        """Registration is allowed: a secret is configured and the header carries it."""
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

    def register(self, body: bytes) -> RegisterOut:
        """Register the channel a body describes (the caller checked the secret)."""
        req = parse_body(RegisterIn, body)
        _check_encodable(req.model_dump())
        try:
            name = registration.channel_name(req.name)
            prefixes = registration.jid_prefixes(req.jid_prefixes)
            url = registration.adapter_url(req.url)
            limit = registration.message_limit(req.max_message_chars)
            send_secret = registration.send_secret(
                req.protocol, req.send_secret, req.capabilities is not None
            )
        except store.InvalidInput as exc:
            raise ApiError(422, str(exc), exc.field) from None
        token = secrets.token_urlsafe(32)
        try:
            channel = register_channel(
                self.conn,
                name,
                token_hash(token),
                url,
                jid_prefixes=prefixes,
                max_message_chars=limit,
                protocol=req.protocol,
                send_secret=send_secret,
                # A 1.1 adapter that lists no capabilities has the defaults (plain text).
                capabilities=(req.capabilities or Capabilities()) if send_secret else None,
            )
        except store.InvalidInput as exc:
            raise ApiError(409, str(exc), exc.field) from None
        self._tokens.clear()  # the channel's old token stops working now
        log.info(
            "channel registered name=%s url=%s protocol=%s",
            log_safe(channel.name),
            log_safe(channel.url),
            channel.protocol,
        )
        return RegisterOut(
            name=channel.name,
            token=token,
            jid_prefixes=list(channel.jid_prefixes),
            max_message_chars=channel.max_message_chars,
            protocol=channel.protocol,
            capabilities=channel.capabilities,
        )

    def channel(self, authorization: str | None) -> Channel:
        """The channel whose token the header carries, else 401."""
        return self._channel(bearer(authorization))

    def blob_writer(self) -> BlobWriter:
        """A writer for one uploaded file into files/."""
        return BlobWriter(self.conn)

    def post_message(
        self, channel: Channel, body: bytes, parent: str | None = None
    ) -> MessageAccepted:
        """Store one message posted by `channel` (already authenticated), in the trace of
        the adapter's `traceparent` header when it sent one."""
        with tracing.span(
            "gated.ingest", parent, kind="server", attributes={"channel": channel.name}
        ) as span:
            return self._post_message(channel, body, tracing.traceparent(span))

    def _post_message(
        self, channel: Channel, body: bytes, traceparent: str | None
    ) -> MessageAccepted:
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
        try:
            msg, thread_id = inbound_message(self.conn, channel.name, req)
            if thread_id is not None:
                topic_for_thread(self.conn, req.chat_jid, thread_id)
            result = store.put_message(self.conn, replace(msg, traceparent=traceparent))
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
