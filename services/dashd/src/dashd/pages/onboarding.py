"""The onboarding queue (operators only): unknown chats waiting for approval, approve / reject
through onbod's own functions."""

from __future__ import annotations

import logging

from onbod import api as onbod
from starlette.responses import Response
from starlette.routing import Route
from store import validate

from dashd.context import Ctx
from dashd.page import page

log = logging.getLogger(__name__)


@page(operator=True)
def onboarding_list(ctx: Ctx) -> Response:
    pending = onbod.pending(ctx.read)
    recent = [o for o in onbod.list_onboarding(ctx.read, limit=50) if o.status != "pending"]
    return ctx.render("onboarding.html", pending=pending, recent=recent)


def _decide(ctx: Ctx, approve: bool) -> Response:
    jid = validate.jid(ctx.field("jid"), "jid")
    if approve:
        decision = onbod.approve(ctx.write, jid, ctx.user.username, actor=ctx.actor)
    else:
        reason = validate.short_text(ctx.field("reason").strip(), "reason")
        decision = onbod.reject(ctx.write, jid, ctx.user.username, reason, actor=ctx.actor)
    log.info(
        "onboarding %s jid=%s by=%s ok=%s",
        "approve" if approve else "reject",
        jid,
        ctx.user.username,
        decision.ok,
    )
    if decision.ok:
        return ctx.redirect("/onboarding", ok=decision.message)
    return ctx.redirect("/onboarding", err=decision.message)


@page(operator=True)
def onboarding_approve(ctx: Ctx) -> Response:
    return _decide(ctx, approve=True)


@page(operator=True)
def onboarding_reject(ctx: Ctx) -> Response:
    return _decide(ctx, approve=False)


ROUTES = [
    Route("/onboarding", onboarding_list, methods=["GET"]),
    Route("/onboarding/approve", onboarding_approve, methods=["POST"]),
    Route("/onboarding/reject", onboarding_reject, methods=["POST"]),
]
