"""The `@page` decorator every handler wears (login, CSRF on every POST, operator check, error
pages, cookies, no-store) and the middleware adding CSP and the other security headers."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlencode

import store
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashd import auth
from dashd.context import AppState, Ctx, Handler, client_ip
from dashd.cookies import CSRF_COOKIE, apply_cookies, resolve_viewer

log = logging.getLogger(__name__)

CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "x-csrf-token"
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

Endpoint = Callable[[Request], Awaitable[Response]]


def _unauthenticated(ctx: Ctx) -> Response:
    req = ctx.request
    target = "/login"
    if req.method == "GET" and req.url.path != "/":
        here = req.url.path + (f"?{req.url.query}" if req.url.query else "")
        target += "?" + urlencode({"next": here})
    if req.headers.get("hx-request") == "true":
        return Response("login required", status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _run(ctx: Ctx, handler: Handler, *, public: bool, operator: bool) -> Response:
    state, req = ctx.state, ctx.request
    ctx.nonce = req.cookies.get(CSRF_COOKIE, "")
    if not ctx.nonce:
        ctx.nonce = secrets.token_urlsafe(24)
        ctx.cookies.append((CSRF_COOKIE, ctx.nonce, 60 * 60 * 24 * 365))
    resolve_viewer(ctx)
    if ctx.viewer is None and not public:
        return _unauthenticated(ctx)
    family = ctx.viewer.family if ctx.viewer else ""
    ctx.csrf = auth.csrf_token(state.key, ctx.nonce, family)
    try:
        if req.method == "POST":
            presented = ctx.field(CSRF_FIELD) or req.headers.get(CSRF_HEADER, "")
            if not auth.csrf_ok(state.key, req.cookies.get(CSRF_COOKIE, ""), family, presented):
                log.warning("csrf rejected ip=%s path=%s", client_ip(req), req.url.path)
                raise HTTPException(403, "the form's CSRF token is missing or stale; reload")
        if operator and ctx.viewer is not None and not ctx.viewer.is_operator:
            raise HTTPException(403, "only operators (users without groups) may open this page")
        return handler(ctx)
    except HTTPException as exc:
        return ctx.render("error.html", code=exc.status_code, message=exc.detail)
    except store.InvalidInput as exc:
        return ctx.render("error.html", code=400, message=str(exc))
    except store.NotFound as exc:
        return ctx.render("error.html", code=404, message=str(exc))


def page(*, public: bool = False, operator: bool = False) -> Callable[[Handler], Endpoint]:
    """Wrap a sync page handler: login, CSRF, operator check, errors, cookies, no-store."""

    def wrap(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            state: AppState = request.app.state.dashd
            state.requests += 1
            form = await request.form() if request.method == "POST" else None
            ctx = Ctx(state, request, None, form, store.utcnow())
            response = await run_in_threadpool(_run, ctx, handler, public=public, operator=operator)
            apply_cookies(ctx, response)
            response.headers["cache-control"] = "no-store"
            return response

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


class SecurityHeaders:
    """Adds CSP, X-Frame-Options, Referrer-Policy and friends to every response. A response
    that sets its own CSP (the public share page: its frame-ancestors are the link's
    allowlist) decides its framing itself: it gets neither the default CSP nor X-Frame-Options;
    any header a response sets itself is never added twice."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                own = {name.lower() for name, _ in headers}
                if b"content-security-policy" in own:
                    own.add(b"x-frame-options")
                message["headers"] = headers + [h for h in SECURITY_HEADERS if h[0] not in own]
            await send(message)

        await self.app(scope, receive, send_with_headers)
