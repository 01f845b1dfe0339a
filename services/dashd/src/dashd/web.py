"""The request plumbing every page shares: per-thread connections, login resolution (access
JWT, else refresh rotation), CSRF on every POST, rendering, cookies and security headers."""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import store
from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashd import __version__, auth
from dashd.access import Viewer
from dashd.config import Config
from dashd.errors import SessionInvalid
from dashd.users import get_user

log = logging.getLogger(__name__)

ACCESS_COOKIE: Final = "sb_access"
REFRESH_COOKIE: Final = "sb_refresh"
CSRF_COOKIE: Final = "sb_csrf"
CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "x-csrf-token"
MAX_INT_DIGITS: Final = 18  # below SQLite's 64-bit integer limit
STATIC_DIR: Final = Path(__file__).parent / "static"
STATIC_FILES: Final = ("htmx.min.js", "style.css", "app.js")
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


class Db:
    """One read-only and one read-write connection per thread (sqlite3 rule: one per thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def read(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "ro", None)
        if conn is None:
            conn = store.connect(self.path, readonly=True)
            self._local.ro = conn
        return conn

    def write(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "rw", None)
        if conn is None:
            conn = store.connect(self.path)
            self._local.rw = conn
        return conn


@dataclass(frozen=True, slots=True)
class StaticFile:
    url: str
    body: bytes
    media_type: str


def static_files() -> dict[str, StaticFile]:
    """Each vendored file under a content-hashed name, so browsers may cache it forever."""
    media = {".js": "text/javascript", ".css": "text/css"}
    files = {}
    for name in STATIC_FILES:
        body = (STATIC_DIR / name).read_bytes()
        stem, dot, ext = name.rpartition(".")
        url = f"/static/{stem}.{hashlib.sha256(body).hexdigest()[:10]}{dot}{ext}"
        files[name] = StaticFile(url, body, media["." + ext] + "; charset=utf-8")
    return files


def format_when(value: str | None, empty: str = "—") -> str:
    """Stored UTC text as `2026-11-23 09:47 UTC` for people."""
    return f"{value[:16].replace('T', ' ')} UTC" if value else empty


def format_seconds(value: int | None) -> str:
    """An interval for people: `90 s`, `5 min`, `2 h`, `1 d` (exact units only)."""
    if value is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size and value % size == 0:
            return f"{value // size} {unit}"
    return f"{value} s"


class AppState:
    """What every request needs, built once at start."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = Db(config.db_path)
        self.key = auth.signing_key(self.db.write())
        self.static = static_files()
        self.templates = Environment(
            loader=PackageLoader("dashd", "templates"), autoescape=True, auto_reload=False
        )
        self.templates.globals["static_url"] = lambda name: self.static[name].url
        self.templates.globals["version"] = __version__
        self.templates.filters["when"] = format_when
        self.templates.filters["seconds"] = format_seconds
        self.requests = 0


@dataclass(slots=True)
class Ctx:
    """One request as a page handler sees it."""

    state: AppState
    request: Request
    viewer: Viewer | None
    form: FormData | None
    now: datetime
    csrf: str = ""
    nonce: str = ""
    cookies: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def read(self) -> sqlite3.Connection:
        return self.state.db.read()

    @property
    def write(self) -> sqlite3.Connection:
        return self.state.db.write()

    @property
    def user(self) -> Viewer:
        assert self.viewer is not None
        return self.viewer

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def param(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def int_param(self, name: str) -> int | None:
        raw = self.request.query_params.get(name, "")
        if not raw:
            return None
        if not raw.isdigit() or len(raw) > MAX_INT_DIGITS:
            raise HTTPException(400, f"{name}: {raw[:40]!r} is not a positive integer")
        return int(raw)

    def path_id(self, name: str) -> int:
        """An integer id from the path; 404 when it cannot be a row id (SQLite's range)."""
        value = int(self.request.path_params[name])
        if not 0 < value < 2**62:
            raise HTTPException(404, "No such row here.")
        return value

    def render(self, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        page = self.state.templates.get_template(template).render(
            viewer=self.viewer,
            csrf=self.csrf,
            path=self.request.url.path,
            notice=self.param("ok"),
            error=self.param("err"),
            htmx=self.request.headers.get("hx-request") == "true",
            **values,
        )
        return HTMLResponse(page, status_code=code)

    def redirect(self, url: str, **query: str) -> RedirectResponse:
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        return RedirectResponse(url, status_code=303)

    def not_found(self, what: str) -> HTTPException:
        return HTTPException(404, what)


Handler = Callable[[Ctx], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _resolve_viewer(ctx: Ctx) -> None:
    """Find the logged-in user from the access cookie, rotating the refresh token when the
    access token is missing or expired; queues cookie changes on ctx."""
    state, req, cfg = ctx.state, ctx.request, ctx.state.config
    family = sub = None
    claims = auth.decode_access(state.key, req.cookies.get(ACCESS_COOKIE, ""))
    if claims is not None and auth.session_alive(ctx.read, claims["sid"], ctx.now) == claims["sub"]:
        family, sub = str(claims["sid"]), str(claims["sub"])
    elif refresh := req.cookies.get(REFRESH_COOKIE):
        try:
            tokens = auth.rotate(
                ctx.write,
                state.key,
                refresh,
                now=ctx.now,
                access_ttl=cfg.access_ttl,
                refresh_ttl=cfg.refresh_ttl,
                reuse_grace=cfg.reuse_grace,
                ip=client_ip(req),
                user_agent=req.headers.get("user-agent", ""),
            )
        except SessionInvalid as exc:
            log.info("refresh refused ip=%s reason=%s", client_ip(req), exc)
            ctx.cookies += [(ACCESS_COOKIE, "", 0), (REFRESH_COOKIE, "", 0)]
        else:
            family, sub = tokens.family, tokens.sub
            if tokens.access:
                set_session_cookies(ctx, tokens)
    if family is None or sub is None:
        return
    user = get_user(ctx.read, sub)
    if user is None:
        return
    ctx.viewer = Viewer(user.sub, user.username, user.folders, family)


def set_session_cookies(ctx: Ctx, tokens: auth.Tokens) -> None:
    cfg = ctx.state.config
    ctx.cookies += [
        (ACCESS_COOKIE, tokens.access, int(cfg.access_ttl.total_seconds())),
        (REFRESH_COOKIE, tokens.refresh, int(cfg.refresh_ttl.total_seconds())),
    ]


def _apply_cookies(ctx: Ctx, response: Response) -> None:
    secure = ctx.state.config.secure_cookies or ctx.request.url.scheme == "https"
    for name, value, max_age in ctx.cookies:
        if max_age == 0:
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")
        else:
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path="/",
                secure=secure,
                httponly=True,
                samesite="strict",
            )


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
    _resolve_viewer(ctx)
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
            _apply_cookies(ctx, response)
            response.headers["cache-control"] = "no-store"
            return response

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


class SecurityHeaders:
    """Adds CSP, X-Frame-Options, Referrer-Policy and friends to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)
