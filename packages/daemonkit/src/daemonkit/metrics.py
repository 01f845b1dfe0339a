"""Prometheus exposition shared by the daemons: who may read `/metrics` (a loopback client with
no proxy in between, or the scrape token), the text of a registry, and the small listener timed
and onbod serve it on with `--metrics-listen` (see docs/observability.md)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from daemonkit import settings
from daemonkit.flags import METRICS_PATH, TOKEN_ENV
from daemonkit.listener import HttpListener

log = logging.getLogger(__name__)

# A request that carries one of these came through a proxy: its peer address (the proxy's,
# often loopback) says nothing about who asked, so it counts as remote.
PROXY_HEADERS: Final = ("x-forwarded-for", "forwarded", "x-real-ip")
PLAIN: Final = "text/plain; charset=utf-8"
NO_STORE: Final = {"cache-control": "no-store"}
REFUSED_REMOTE: Final = (
    f"{METRICS_PATH} is served to loopback clients, or with 'Authorization: Bearer <{TOKEN_ENV}>'"
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a `/metrics` request is refused: HTTP status and one line."""

    status: int
    reason: str


def refusal(client: str | None, headers: Mapping[str, str], token: str | None) -> Refusal | None:
    """None when the request may read the metrics. `headers` has lower-case names.

    An `Authorization` header must carry the token (compared in constant time), wherever the
    request comes from; without one, only a loopback peer that no proxy relayed is served."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, given = authorization.partition(" ")
        ok = (
            token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode())
        )
        return None if ok else Refusal(401, "wrong metrics token")
    relayed = any(name in headers for name in PROXY_HEADERS)
    if client is not None and settings.is_loopback(client) and not relayed:
        return None
    return Refusal(403, REFUSED_REMOTE)


def new_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry of `collectors` plus this process's CPU, memory and file descriptors."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_answer(
    registry: CollectorRegistry, client: str | None, headers: Mapping[str, str], token: str | None
) -> tuple[int, bytes, str]:
    """Status, body and content type of a `/metrics` request (blocking: collecting reads the
    database, so callers run it off their event loop)."""
    refused = refusal(client, headers, token)
    if refused is not None:
        return refused.status, refused.reason.encode() + b"\n", PLAIN
    body, content_type = exposition(registry)
    return 200, body, content_type


def scope_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """An ASGI scope's headers by lower-case name (the last of repeated names)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


class MetricsApp:
    """An ASGI app serving only `GET /metrics`, with the access rule of `refusal`."""

    def __init__(self, registry: CollectorRegistry, token: str | None) -> None:
        self.registry = registry
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != METRICS_PATH:
            await _answer(send, 404, b"not found\n", PLAIN)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"method not allowed\n", PLAIN)
            return
        client = scope.get("client")
        status, body, content_type = await asyncio.to_thread(
            metrics_answer,
            self.registry,
            client[0] if client else None,
            scope_headers(scope["headers"]),
            self.token,
        )
        await _answer(send, status, body, content_type)


async def _answer(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_metrics(
    what: str, collector: Collector, address: tuple[str, int], token: str | None
) -> HttpListener:
    """Start the listener of `--metrics-listen HOST:PORT` (Fatal when it cannot bind); the
    caller checks it on every step and stops it."""
    host, port = address
    listener = HttpListener(
        f"{what} metrics",
        MetricsApp(new_registry(collector), token),
        host,
        port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    bound = listener.start()
    log.info("metrics listening url=http://%s:%d%s", host, bound, METRICS_PATH)
    return listener
