"""The Starlette application: every page's routes, the vendored static files under hashed
names, a trivial health page, `/metrics`, the security-header middleware, and the live-update
hub started and stopped with the app's lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from daemonkit.metrics import new_registry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dashd.chat_stream import ChatRows
from dashd.config import Config
from dashd.context import AppState
from dashd.live import Hub
from dashd.metrics import DashdMetrics, metrics_page
from dashd.page import SecurityHeaders
from dashd.pages import (
    audit,
    charts,
    chats,
    groups,
    login,
    onboarding,
    sessions,
    share,
    share_admin,
    share_events,
    status,
    tasks,
    users,
    webchat,
)

PAGE_MODULES = (
    login,
    status,
    groups,
    share_admin,
    chats,
    webchat,
    sessions,
    tasks,
    charts,
    onboarding,
    users,
    audit,
    share,
    share_events,
)


async def healthz(request: Request) -> Response:
    """Unauthenticated liveness probe (also the benchmark's trivial baseline page)."""
    return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})


async def static(request: Request) -> Response:
    state: AppState = request.app.state.dashd
    url = request.url.path
    for item in state.static.values():
        if item.url == url:
            return Response(
                item.body,
                media_type=item.media_type,
                headers={"cache-control": "public, max-age=31536000, immutable"},
            )
    return PlainTextResponse("not found\n", status_code=404)


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]
    for module in PAGE_MODULES:
        table += module.ROUTES
    return table


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    hub: Hub = app.state.hub
    hub.start()
    try:
        yield
    finally:
        hub.stop()
        app.state.metrics_collector.close()


def create_app(config: Config) -> Starlette:
    """The app; `app.state.hub` is the live-update hub its streams (and other pages) share,
    `chat_rows` and `share_rows` the web chat's and the share page's rendered stream events,
    `share_streams` the share page's open-stream counts."""
    app = Starlette(routes=routes(), middleware=[Middleware(SecurityHeaders)], lifespan=lifespan)
    app.state.dashd = AppState(config)
    app.state.metrics_collector = DashdMetrics(config.db_path, config.stale_after_s)
    app.state.metrics = new_registry(app.state.metrics_collector)
    app.state.hub = Hub(config.db_path)
    templates = app.state.dashd.templates
    app.state.chat_rows = ChatRows(templates.get_template("_message.html"))
    app.state.share_rows = ChatRows(templates.get_template("_share_message.html"))
    app.state.share_streams = share_events.StreamSlots(
        share_events.STREAMS_PER_VISITOR, share_events.STREAMS_PER_ADDRESS
    )
    return app
