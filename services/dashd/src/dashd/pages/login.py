"""Login and logout: the rate-limited password form and session revocation."""

from __future__ import annotations

import logging

from starlette.responses import Response
from starlette.routing import Route

from dashd import auth
from dashd.context import Ctx, client_ip
from dashd.cookies import set_session_cookies
from dashd.errors import RateLimited
from dashd.page import page
from dashd.users import verify_login

log = logging.getLogger(__name__)


def safe_next(target: str) -> str:
    """Only a local path may follow a login (no `//host` or `/\\host` open redirects)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return "/"


@page(public=True)
def login_form(ctx: Ctx) -> Response:
    if ctx.viewer is not None:
        return ctx.redirect(safe_next(ctx.param("next", "/")))
    return ctx.render("login.html", next=safe_next(ctx.param("next", "/")), username="")


@page(public=True)
def login_submit(ctx: Ctx) -> Response:
    username = ctx.field("username").strip()
    password = ctx.field("password")
    target = safe_next(ctx.field("next", "/"))
    ip = client_ip(ctx.request)
    try:
        auth.check_rate_limit(ctx.read, ip, username, ctx.now)
    except RateLimited as exc:
        log.warning("login rate-limited ip=%s username=%r", ip, username)
        return ctx.render("login.html", code=429, next=target, username=username, failed=str(exc))
    user = verify_login(ctx.write, username, password) if username and password else None
    if user is None:
        auth.record_failure(ctx.write, ip, username, ctx.now)
        log.info("login failed ip=%s username=%r", ip, username)
        return ctx.render(
            "login.html",
            code=401,
            next=target,
            username=username,
            failed="Wrong username or password.",
        )
    auth.clear_failures(ctx.write, ip, username)
    cfg = ctx.state.config
    tokens = auth.start_session(
        ctx.write,
        ctx.state.key,
        user.sub,
        now=ctx.now,
        access_ttl=cfg.access_ttl,
        refresh_ttl=cfg.refresh_ttl,
        ip=ip,
        user_agent=ctx.request.headers.get("user-agent", ""),
    )
    set_session_cookies(ctx, tokens)
    log.info("login ok ip=%s username=%r session=%s", ip, username, tokens.family)
    return ctx.redirect(target)


@page()
def logout(ctx: Ctx) -> Response:
    auth.revoke_family(ctx.write, ctx.user.family, ctx.now)
    log.info("logout username=%r session=%s", ctx.user.username, ctx.user.family)
    ctx.cookies += [("sb_access", "", 0), ("sb_refresh", "", 0)]
    ctx.viewer = None
    return ctx.redirect("/login", ok="Signed out.")


ROUTES = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
