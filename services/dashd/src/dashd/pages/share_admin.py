"""Operators manage a folder's share link at `/groups/{folder}/share`: create or rotate it
(the new URL and embed snippets are shown once: only the token's hash is kept), revoke it,
and edit the origins allowed to frame it."""

from __future__ import annotations

import logging

import store
from starlette.responses import Response
from starlette.routing import Route
from store import share_links, validate

from dashd.context import Ctx
from dashd.page import page
from dashd.share_embed import embed_snippets, share_url

log = logging.getLogger(__name__)


def _folder(ctx: Ctx) -> str:
    folder = validate.folder(ctx.request.path_params["folder"])
    if not store.folder_in_use(ctx.read, folder):
        raise ctx.not_found("No such group here.")
    return folder


def _render(ctx: Ctx, folder: str, token: str = "", code: int = 200) -> Response:
    base = str(ctx.request.base_url).rstrip("/")
    url = share_url(base, token) if token else ""
    script, iframe = embed_snippets(base, token) if token else ("", "")
    return ctx.render(
        "share_admin.html",
        code=code,
        folder=folder,
        link=share_links.get_link(ctx.read, folder),
        url=url,
        script=script,
        iframe=iframe,
    )


@page(operator=True)
def share_admin(ctx: Ctx) -> Response:
    return _render(ctx, _folder(ctx))


@page(operator=True)
def share_change(ctx: Ctx) -> Response:
    """One button of the page: create, rotate, revoke, or save the origin allowlist."""
    folder = _folder(ctx)
    action = ctx.field("action")
    here = f"/groups/{folder}/share"
    if action in ("create", "rotate"):
        token = share_links.create_link(ctx.write, folder, actor=ctx.actor)
        log.info("share link %sd folder=%s by=%s", action, folder, ctx.user.username)
        # Rendered, not redirected: the token must not travel in a URL, and is never shown again.
        return _render(ctx, folder, token)
    if action == "revoke":
        if share_links.revoke_link(ctx.write, folder, actor=ctx.actor):
            log.info("share link revoked folder=%s by=%s", folder, ctx.user.username)
            return ctx.redirect(here, ok="Share link revoked: its URL no longer opens anything.")
        return ctx.redirect(here, err="This group has no share link.")
    if action == "origins":
        origins = ctx.field("origins").split()
        link = share_links.set_frame_ancestors(ctx.write, folder, origins, actor=ctx.actor)
        shown = ", ".join(link.frame_ancestors) or "none"
        log.info("share origins set folder=%s origins=%s", folder, shown)
        return ctx.redirect(here, ok=f"Sites that may embed the chat: {shown}.")
    raise store.InvalidInput("action", f"unknown action {action[:40]!r}")


ROUTES = [
    Route("/groups/{folder}/share", share_admin, methods=["GET"]),
    Route("/groups/{folder}/share", share_change, methods=["POST"]),
]
