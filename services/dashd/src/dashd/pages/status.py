"""The status page: daemon heartbeats, outbox backlog and dead letters, errored chats, agents
running now and recent failed runs; its body is re-read when the hub says the database changed
(a `changed` event at most once a second on `/status/events`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import store
from starlette.responses import Response
from starlette.routing import Route
from store.outbox import backlog_counts, dead_letters_for, outbox_counts_for

from dashd import streams
from dashd.context import Ctx
from dashd.live import Guard, Hub
from dashd.page import page

EXPECTED_DAEMONS: Final = ("gated", "timed", "onbod", "dashd")
CHANGED_EVERY_S: Final = 1.0  # a page is told to re-read its body at most this often


@dataclass(frozen=True, slots=True)
class DaemonHealth:
    name: str
    state: str  # up, stale, stopped, missing
    age_s: float | None
    pid: int | None
    version: str
    host: str

    @property
    def ok(self) -> bool:
        return self.state == "up"


def daemon_health(ctx: Ctx) -> list[DaemonHealth]:
    return health_of(store.list_daemons(ctx.read), ctx.now, ctx.state.config.stale_after_s)


def health_of(
    daemons: list[store.Daemon], now: datetime, stale_after_s: float
) -> list[DaemonHealth]:
    """Each expected or recorded daemon's state: stopped, stale (no heartbeat for longer than
    `stale_after_s`), up, or missing (never ran here). Also switchboard_daemon_up's source."""
    seen = {d.name: d for d in daemons}
    out = []
    for name in sorted(set(EXPECTED_DAEMONS) | set(seen)):
        d = seen.get(name)
        if d is None:
            out.append(DaemonHealth(name, "missing", None, None, "", ""))
            continue
        age = (now - store.parse_iso(d.heartbeat_at)).total_seconds() if d.heartbeat_at else None
        if d.stopped_at:
            state = "stopped"
        elif age is None or age > stale_after_s:
            state = "stale"
        else:
            state = "up"
        out.append(DaemonHealth(name, state, age, d.pid, d.version, d.host))
    return out


def gated_sandbox(ctx: Ctx) -> dict[str, Any] | None:
    """The `sandbox` entry of gated's heartbeat info: are agents confined (None: unknown)."""
    for d in store.list_daemons(ctx.read):
        if d.name == "gated" and isinstance(d.info, dict):
            info = d.info.get("sandbox")
            return info if isinstance(info, dict) and info else None
    return None


def status_values(ctx: Ctx) -> dict[str, Any]:
    conn, folders = ctx.read, ctx.user.folder_list
    return {
        "daemons": daemon_health(ctx),
        "sandbox": gated_sandbox(ctx),
        "backlog": backlog_counts(conn) if folders is None else outbox_counts_for(conn, folders),
        "dead": dead_letters_for(conn, folders, limit=10),
        "errored": store.errored_chats(conn, folders),
        "running": store.session_runs(conn, running_only=True, folders=folders, limit=20),
        "failures": store.session_runs(conn, errors_only=True, folders=folders, limit=10),
        "now": ctx.now,
    }


@page()
def status_page(ctx: Ctx) -> Response:
    return ctx.render("status.html", **status_values(ctx))


@page()
def status_live(ctx: Ctx) -> Response:
    """The status body alone, for the 5-second HTMX refresh."""
    return ctx.render("status_body.html", **status_values(ctx))


CHANGED: Final = streams.encode("1", event="changed")


async def status_changes(hub: Hub, lifetime_s: float, guard: Guard) -> AsyncGenerator[bytes, None]:
    """A `changed` event (no data: the page fetches `/status/live`, checked as ever) after a
    commit, at most once per CHANGED_EVERY_S; commits in between count as one."""
    yield streams.RETRY
    loop = asyncio.get_running_loop()
    last = 0.0
    async with contextlib.aclosing(hub.changes(lifetime_s=lifetime_s, guard=guard)) as changes:
        async for _ in changes:
            wait = last + CHANGED_EVERY_S - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # pacing: changes meanwhile coalesce into this one
            last = loop.time()
            yield CHANGED


@page()
def status_events(ctx: Ctx) -> Response:
    hub: Hub = ctx.request.app.state.hub
    lifetime = streams.lifetime(ctx)
    guard = Guard("session", ctx.user.family)
    return streams.EventStream(lambda: status_changes(hub, lifetime, guard))


ROUTES = [
    Route("/", status_page, methods=["GET"]),
    Route("/status/live", status_live, methods=["GET"]),
    Route("/status/events", status_events, methods=["GET"]),
]
