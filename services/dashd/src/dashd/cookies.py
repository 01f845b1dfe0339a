"""Login by cookie: who the viewer is (access JWT, else refresh-token rotation), the session
and CSRF cookie names, and writing queued cookie changes onto a response."""

from __future__ import annotations

import logging
from typing import Final

from starlette.responses import Response

from dashd import auth
from dashd.access import viewer_for
from dashd.context import Ctx, client_ip
from dashd.errors import SessionInvalid
from dashd.users import get_user

log = logging.getLogger(__name__)

ACCESS_COOKIE: Final = "sb_access"
REFRESH_COOKIE: Final = "sb_refresh"
CSRF_COOKIE: Final = "sb_csrf"


def resolve_viewer(ctx: Ctx) -> None:
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
    ctx.viewer = viewer_for(ctx.read, user.sub, user.username, user.folders, family)


def set_session_cookies(ctx: Ctx, tokens: auth.Tokens) -> None:
    cfg = ctx.state.config
    ctx.cookies += [
        (ACCESS_COOKIE, tokens.access, int(cfg.access_ttl.total_seconds())),
        (REFRESH_COOKIE, tokens.refresh, int(cfg.refresh_ttl.total_seconds())),
    ]


def apply_cookies(ctx: Ctx, response: Response) -> None:
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
