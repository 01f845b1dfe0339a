"""The audit log (operators only): every administrative change, newest first, filtered by
actor, origin, action, target and date with a GET form, paged by id (store.audit)."""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route
from store import audit
from store.audit import AuditQuery

from dashd.context import Ctx
from dashd.page import page

PAGE_SIZE: Final = 50
FILTERS: Final = ("actor", "origin", "action", "target", "since")


def value_text(value: Any) -> str:
    """A before/after value as the page shows it: compact JSON; '—' when absent."""
    return "—" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


@page(operator=True)
def audit_list(ctx: Ctx) -> Response:
    given = {name: ctx.param(name).strip() for name in FILTERS}
    query = AuditQuery.parse(**given)
    entries = audit.entries(ctx.read, query, before_id=ctx.int_param("before"), limit=PAGE_SIZE)
    older = entries[-1].id if len(entries) == PAGE_SIZE else None
    kept = urlencode({k: v for k, v in given.items() if v})
    return ctx.render(
        "audit.html",
        entries=entries,
        given=given,
        filtered=query != AuditQuery(),
        origins=audit.ORIGINS,
        actions=audit.ACTIONS,
        older=older,
        kept=kept,
        value_text=value_text,
    )


ROUTES = [Route("/audit", audit_list, methods=["GET"])]
