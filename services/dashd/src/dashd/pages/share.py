"""The public share page `/s/<token>`: an anonymous visitor chats with a folder's agent in a
private conversation of their own (jid `web:<folder>/v/<id>`, session topic `share:<id>`),
kept by a signed cookie; with CSRF, size and rate limits, the link's frame-ancestors, and
one identical 404 for every token that opens nothing. Also the embeddable widget script.

Without JavaScript the page is a form: POST, redirect, GET; the form comes first and the
messages under it newest first, so the newest is in view without scrolling in a small frame.
Messages are `li[data-seq]` under `ol#messages[data-after]`; with JavaScript (app.js) the page
follows its live stream (`/s/<token>/events`, share_events.py), prepending replies, and posts
the form with fetch (answered 204 instead of the redirect)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import parse_qs

import store
from daemonkit import tracing
from gated.commands import parse_command
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from store import rates, share_links
from store.share_links import ShareLink

from dashd.context import AppState, client_ip

log = logging.getLogger(__name__)

VISITOR_COOKIE: Final = "sb_visitor"
VISITOR_COOKIE_DAYS: Final = 30
HISTORY: Final = 100
MAX_BODY_BYTES: Final = 16 * 1024  # the whole form; larger is refused unread (413)
MAX_TEXT_CHARS: Final = 4000
VISITOR_PER_MINUTE: Final = 6  # messages one visitor may send per minute
ADDRESS_PER_MINUTE: Final = 20  # messages one client address may send per minute, all visitors
WINDOW: Final = timedelta(minutes=1)
AWAIT_REPLY: Final = timedelta(minutes=2)  # the page reloads itself while a reply is due
REFRESH_S: Final = 3
FETCH_HEADER: Final = "x-share-fetch"  # app.js posts with this: 204, not a redirect
SHARE_CSP: Final = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
)


def share_csp(origins: tuple[str, ...]) -> str:
    """The page's CSP: scripts and connections only from dashd itself (app.js and the live
    stream; never inline), and framing only by the link's allowlist."""
    return SHARE_CSP.format(ancestors=" ".join(origins) if origins else "'none'")


class AddressWindow:
    """Messages per client address over the last minute, in this process (a restart forgets;
    the per-visitor limit is counted in the database and survives it)."""

    MAX_ADDRESSES: Final = 10_000

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str, now: float) -> bool:
        """Count one message from `address`; False (not counted) when it is over the limit."""
        with self._lock:
            if len(self._hits) >= self.MAX_ADDRESSES:
                self._prune(now)
            hits = self._hits.setdefault(address, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def _prune(self, now: float) -> None:
        stale = [a for a, h in self._hits.items() if not h or h[-1] <= now - self.window_s]
        for address in stale:
            del self._hits[address]


ADDRESSES = AddressWindow(ADDRESS_PER_MINUTE, WINDOW.total_seconds())


@dataclass(slots=True)
class Visit:
    """One request to a live share link, as its handler sees it."""

    state: AppState
    request: Request
    token: str
    token_hash: str
    link: ShareLink
    now: datetime
    visitor: str = ""
    new_cookie: bool = False
    form: dict[str, str] = field(default_factory=dict)
    oversized: bool = False

    @property
    def jid(self) -> str:
        return share_links.visitor_jid(self.link.folder, self.visitor)

    @property
    def path(self) -> str:
        return f"/s/{self.token}"

    def csrf(self) -> str:
        return _mac(self.state.key, "share-csrf", self.token_hash, self.visitor)

    def render(self, code: int = 200, error: str = "", text: str = "") -> HTMLResponse:
        conn = self.state.db.read()
        messages = store.messages_before(conn, self.jid, None, HISTORY) if self.visitor else []
        last = messages[-1] if messages else None
        messages.reverse()  # newest first, under the form
        waiting = (
            last is not None
            and not last.is_from_me
            and self.now - store.parse_iso(last.timestamp) < AWAIT_REPLY
        )
        page = self.state.templates.get_template("share_chat.html").render(
            path=self.path,
            messages=messages,
            after=last.seq if last else 0,
            csrf=self.csrf(),
            error=error,
            text=text,
            refresh=REFRESH_S if waiting and not error else 0,
            events=f"{self.path}/events?after={last.seq if last else 0}",
            max_chars=MAX_TEXT_CHARS,
        )
        return HTMLResponse(page, status_code=code)


ShareHandler = Callable[[Visit], Response]


def _mac(key: str, *parts: str) -> str:
    return hmac.new(key.encode(), "|".join(parts).encode(), hashlib.sha256).hexdigest()


def _cookie_value(key: str, token_hash: str, visitor: str) -> str:
    return f"{visitor}.{_mac(key, 'share-visitor', token_hash, visitor)}"


def _visitor_of(key: str, token_hash: str, cookie: str) -> str | None:
    """The visitor a cookie names, when its signature is this link's; else None."""
    visitor, _, sig = cookie.partition(".")
    if not share_links.VISITOR_ID_RE.fullmatch(visitor):
        return None
    good = _mac(key, "share-visitor", token_hash, visitor)
    return visitor if hmac.compare_digest(good, sig) else None


def not_found(state: AppState) -> Response:
    """The one answer to every token that opens nothing (unknown, rotated, revoked,
    malformed): the same bytes and headers, no cookie."""
    body = state.templates.get_template("share_404.html").render()
    return HTMLResponse(
        body,
        status_code=404,
        headers={"content-security-policy": share_csp(()), "x-frame-options": "DENY"},
    )


def _serve(
    state: AppState,
    request: Request,
    body: bytes | None,
    oversized: bool,
    handler: ShareHandler,
    known_visitor: bool,
) -> Response:
    token = str(request.path_params["token"])
    token_hash = share_links.hash_token(token)
    link = share_links.lookup(state.db.read(), token)
    if link is None:
        return not_found(state)
    visit = Visit(state, request, token, token_hash, link, store.utcnow(), oversized=oversized)
    visitor = _visitor_of(state.key, token_hash, request.cookies.get(VISITOR_COOKIE, ""))
    if visitor is None and known_visitor:
        return not_found(state)  # the same answer as a dead token: nothing to tell apart
    if visitor is None:
        visit.visitor, visit.new_cookie = share_links.new_visitor_id(), True
    else:
        visit.visitor = visitor
    if body is not None and not oversized:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        visit.form = {k: v[0] for k, v in fields.items() if v}
    try:
        response = handler(visit) if visitor is not None or request.method == "GET" else None
        if response is None:
            log.warning("share post without a valid visitor cookie ip=%s", client_ip(request))
            response = visit.render(403, "Your chat session was not recognised; send again.")
    except store.InvalidInput as exc:
        response = visit.render(400, str(exc.reason))
    response.headers["content-security-policy"] = share_csp(link.frame_ancestors)
    if not link.frame_ancestors:
        response.headers["x-frame-options"] = "DENY"
    if visit.new_cookie:
        _set_cookie(visit, response)
    return response


def _set_cookie(visit: Visit, response: Response) -> None:
    """HttpOnly, scoped to this link's path. Over HTTPS it is SameSite=None, Secure and
    Partitioned, so the page keeps its visitor inside a widget's iframe on another site (one
    visitor per embedding site); over plain HTTP, SameSite=Lax (a framing site then gets a
    new visitor per request: the widget needs HTTPS)."""
    secure = visit.state.config.secure_cookies or visit.request.url.scheme == "https"
    response.set_cookie(
        VISITOR_COOKIE,
        _cookie_value(visit.state.key, visit.token_hash, visit.visitor),
        max_age=VISITOR_COOKIE_DAYS * 86400,
        path=visit.path,
        secure=secure,
        httponly=True,
        samesite="none" if secure else "lax",
        partitioned=secure,
    )


async def _body(request: Request) -> tuple[bytes, bool]:
    """The request body and whether it was over MAX_BODY_BYTES (then it is not kept: a
    declared length over the cap is refused without reading at all)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


def public(
    handler: ShareHandler, *, known_visitor: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a share-page handler: no login, the link looked up, the visitor's cookie (with
    `known_visitor`, a request without a valid one gets the dead-token 404, and no cookie)."""

    async def endpoint(request: Request) -> Response:
        state: AppState = request.app.state.dashd
        state.requests += 1
        body, oversized = await _body(request) if request.method == "POST" else (None, False)
        response = await run_in_threadpool(
            _serve, state, request, body, oversized, handler, known_visitor
        )
        response.headers["cache-control"] = "no-store"
        response.headers["referrer-policy"] = "no-referrer"
        return response

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def ensure_visitor(conn: sqlite3.Connection, folder: str, jid: str) -> None:
    """Register a visitor's chat to the folder (answered by its agent) on their first message."""
    if store.is_registered(conn, jid):
        return
    try:
        store.register_group(conn, jid, folder, name=f"share link visitor of {folder}")
        log.info("share link visitor registered jid=%s folder=%s", jid, folder)
    except store.InvalidInput:
        if not store.is_registered(conn, jid):
            raise


@public
def share_chat(visit: Visit) -> Response:
    """The visitor's conversation and the form to write in it."""
    return visit.render()


@public
def share_send(visit: Visit) -> Response:
    """Store one visitor message (source `share`, the visitor's topic) and redirect back."""
    if visit.oversized:
        return visit.render(413, f"That message is too long: at most {MAX_TEXT_CHARS} characters.")
    presented = visit.form.get("csrf", "")
    if not presented or not hmac.compare_digest(presented, visit.csrf()):
        log.warning("share csrf rejected ip=%s", client_ip(visit.request))
        return visit.render(403, "This form has expired; reload the page and send again.")
    text = visit.form.get("text", "").replace("\r\n", "\n")
    if len(text) > MAX_TEXT_CHARS:
        error = f"That message is too long: at most {MAX_TEXT_CHARS} characters."
        return visit.render(413, error, text[:MAX_TEXT_CHARS])
    if not text.strip():
        return visit.render(400, "Write a message first.")
    if parse_command(text) is not None:
        # Chat commands (/new, /stop, ...) act on the whole group, not one visitor's chat.
        return visit.render(400, "Messages starting with a / command are not taken here.", text)
    conn = visit.state.db.write()
    since = store.iso(visit.now - WINDOW)
    if rates.received_since(conn, visit.jid, since) >= VISITOR_PER_MINUTE:
        log.info("share visitor rate limited folder=%s", visit.link.folder)
        return _too_many(visit, text)
    if not ADDRESSES.allow(client_ip(visit.request), time.monotonic()):
        log.info("share address rate limited ip=%s", client_ip(visit.request))
        return _too_many(visit, text)
    ensure_visitor(conn, visit.link.folder, visit.jid)
    with tracing.span("dashd.ingest", kind="server", attributes={"channel": "share"}) as span:
        result = store.put_message(
            conn,
            store.NewMessage(
                id=f"share:{uuid.uuid4().hex}",
                chat_jid=visit.jid,
                content=store.validate.content(text, "text"),
                sender=f"visitor:{visit.visitor}",
                sender_name="visitor",
                source="share",
                group_folder=visit.link.folder,
                topic=share_links.visitor_topic(visit.visitor),
                chat_name=f"share link visitor of {visit.link.folder}",
                traceparent=tracing.traceparent(span),
            ),
        )
    log.info("share message folder=%s seq=%d", visit.link.folder, result.seq)
    if visit.request.headers.get(FETCH_HEADER) == "1":
        return Response(status_code=204)  # app.js: the live stream brings the message
    return Response(status_code=303, headers={"location": visit.path})


def _too_many(visit: Visit, text: str) -> Response:
    error = "You are sending messages too fast. Wait a minute, then send again."
    response = visit.render(429, error, text)
    response.headers["retry-after"] = str(int(WINDOW.total_seconds()))
    return response


@public
def widget_js(visit: Visit) -> Response:
    """The embeddable widget: a chat button opening this link's page in an iframe."""
    visit.new_cookie = False  # a script fetch from another site is no visit
    item = visit.state.static["widget.js"]
    return Response(item.body, media_type=item.media_type)


ROUTES = [
    Route("/s/{token}", share_chat, methods=["GET"]),
    Route("/s/{token}", share_send, methods=["POST"]),
    Route("/s/{token}/widget.js", widget_js, methods=["GET"]),
]
