"""Server-Sent Events from a page handler: `EventStream`, a response a sync `@page` handler
returns (login and access already checked), sent by sse-starlette on the event loop with
keep-alive pings and a send timeout for frozen clients; how long a stream may live (its login)
and where it resumes (Last-Event-ID)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Final

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException
from starlette.requests import Request
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

# An event already encoded (shared by every stream it goes to), or one to encode.
Events = Callable[[], AsyncGenerator[ServerSentEvent | bytes, None]]


class EventStream(Response):
    """A text/event-stream response; `events` is called when sending starts (on the loop);
    `on_close` (if any) runs once when the response is over, however it ended (it gives
    back what the handler took for this stream, like a share visitor's stream slot)."""

    def __init__(self, events: Events, on_close: Callable[[], None] | None = None) -> None:
        self.status_code = 200
        self.media_type = None
        self.background = None
        self.init_headers()  # no body: no content-length
        self.events = events
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = EventSourceResponse(
                self.events(), ping=PING_S, send_timeout=SEND_TIMEOUT_S, sep="\n"
            )
            # Cookies the login check queued (a rotated refresh token) go out with the stream.
            response.raw_headers += [h for h in self.raw_headers if h[0] != b"cache-control"]
            await response(scope, receive, send)
        finally:
            if self.on_close is not None:
                self.on_close()


def lifetime(ctx: Ctx) -> float:
    """Seconds a stream opened by this request may live: no longer than the access token it
    was opened with (a revoked session's stream ends then), at most the access-token TTL."""
    longest = ctx.state.config.access_ttl.total_seconds()
    claims = auth.decode_access(ctx.state.key, ctx.request.cookies.get(ACCESS_COOKIE, ""))
    if claims is None:  # logged in by refresh just now: a fresh token
        return longest
    return max(MIN_LIFETIME_S, min(longest, float(claims["exp"]) - ctx.now.timestamp()))


def resume_after(request: Request, default: int) -> int:
    """Where a stream resumes: the Last-Event-ID header (EventSource's reconnect), else the
    `after` query parameter (the page's last seq), else `default`; 400 when not a seq."""
    raw = request.headers.get("last-event-id")
    name = "Last-Event-ID"
    if raw is None:
        raw, name = request.query_params.get("after", ""), "after"
        if not raw:
            return default
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > MAX_SEQ_DIGITS:
        raise HTTPException(400, f"{name}: {raw[:40]!r} is not a message seq")
    return int(raw)


def encode(data: str, *, event: str, id: str | None = None) -> bytes:
    """One event as the bytes on the wire (multi-line data becomes several data lines)."""
    return ServerSentEvent(data, event=event, id=id, sep="\n").encode()


# The first event of a stream: how soon to reconnect (a comment, so no event fires).
RETRY: Final = ServerSentEvent(comment="live", retry=RETRY_MS, sep="\n").encode()
