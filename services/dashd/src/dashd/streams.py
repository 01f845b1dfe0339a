"""Server-Sent Events from a page handler: `EventStream`, a response a sync `@page` handler
returns (login and access already checked), sent by sse-starlette on the event loop with
keep-alive pings, a send timeout for frozen clients and a lifetime bounded by the login."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Final

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dashd import auth
from dashd.context import Ctx
from dashd.cookies import ACCESS_COOKIE

PING_S: Final = 15.0  # a comment line this often keeps proxies from closing an idle stream
SEND_TIMEOUT_S: Final = 30.0  # a client that takes no bytes this long is dropped
RETRY_MS: Final = 1000  # how soon EventSource reconnects after the stream ends
MIN_LIFETIME_S: Final = 1.0
MAX_SEQ_DIGITS: Final = 18

Events = Callable[[], AsyncGenerator[ServerSentEvent, None]]


class EventStream(Response):
    """A text/event-stream response; `events` is called when sending starts (on the loop)."""

    def __init__(self, events: Events, *, lifetime_s: float) -> None:
        self.status_code = 200
        self.media_type = None
        self.background = None
        self.init_headers()  # no body: no content-length
        self.events = events
        self.lifetime_s = max(lifetime_s, MIN_LIFETIME_S)

    async def _bounded(self) -> AsyncIterator[ServerSentEvent]:
        """The events, ended after the lifetime (EventSource then reconnects, logging in anew)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lifetime_s
        events = self.events()
        try:
            while (left := deadline - loop.time()) > 0:
                try:
                    event = await asyncio.wait_for(anext(events), left)
                except (StopAsyncIteration, TimeoutError):
                    return
                yield event
        finally:
            await events.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = EventSourceResponse(
            self._bounded(), ping=PING_S, send_timeout=SEND_TIMEOUT_S, sep="\n"
        )
        # Cookies the login check queued (a rotated refresh token) go out with the stream.
        response.raw_headers += [h for h in self.raw_headers if h[0] != b"cache-control"]
        await response(scope, receive, send)


def lifetime(ctx: Ctx) -> float:
    """Seconds a stream opened by this request may live: no longer than the access token it
    was opened with (a revoked session's stream ends then), at most the access-token TTL."""
    longest = ctx.state.config.access_ttl.total_seconds()
    claims = auth.decode_access(ctx.state.key, ctx.request.cookies.get(ACCESS_COOKIE, ""))
    if claims is None:  # logged in by refresh just now: a fresh token
        return longest
    return min(longest, float(claims["exp"]) - ctx.now.timestamp())


def resume_after(ctx: Ctx, default: int) -> int:
    """Where a stream resumes: the Last-Event-ID header (EventSource's reconnect), else the
    `after` query parameter (the page's last seq), else `default`."""
    raw = ctx.request.headers.get("last-event-id")
    if raw is None:
        after = ctx.int_param("after")
        return default if after is None else after
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > MAX_SEQ_DIGITS:
        raise HTTPException(400, f"Last-Event-ID: {raw[:40]!r} is not a message seq")
    return int(raw)


def retry_event() -> ServerSentEvent:
    """The first event of a stream: how soon to reconnect (a comment, so no event fires)."""
    return ServerSentEvent(comment="live", retry=RETRY_MS)
