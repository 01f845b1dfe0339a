"""Dashboard users (operators only): list, add with optional groups, remove."""

from __future__ import annotations

import logging

from starlette.responses import Response
from starlette.routing import Route

from dashd import users
from dashd.context import Ctx
from dashd.page import page

log = logging.getLogger(__name__)


@page(operator=True)
def user_list(ctx: Ctx) -> Response:
    return ctx.render("users.html", users=users.list_users(ctx.read))


@page(operator=True)
def user_add(ctx: Ctx) -> Response:
    folders = [f.strip() for f in ctx.field("folders").replace(",", " ").split() if f.strip()]
    user = users.add_user(
        ctx.write, ctx.field("username").strip(), ctx.field("password"), folders, actor=ctx.actor
    )
    log.info("user added username=%r by=%s", user.username, ctx.user.username)
    return ctx.redirect("/users", ok=f"User {user.username} added.")


@page(operator=True)
def user_remove(ctx: Ctx) -> Response:
    name = ctx.field("username")
    if name == ctx.user.username:
        return ctx.redirect("/users", err="You cannot remove yourself while signed in.")
    users.remove_user(ctx.write, name, actor=ctx.actor)
    log.info("user removed username=%r by=%s", name, ctx.user.username)
    return ctx.redirect("/users", ok=f"User {name} removed.")


ROUTES = [
    Route("/users", user_list, methods=["GET"]),
    Route("/users", user_add, methods=["POST"]),
    Route("/users/delete", user_remove, methods=["POST"]),
]
