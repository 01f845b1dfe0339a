"""dashd's Prometheus metrics, read from the database at scrape time: failed dashboard logins
(exact across restarts and pruning) and which daemons are up by their heartbeat rows. Served
on the dashboard's `/metrics` (loopback or the scrape token)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import store
from daemonkit.metrics import NO_STORE, metrics_answer
from daemonkit.tally import DbCollector
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dashd import auth
from dashd.pages.status import health_of


class DashdMetrics(DbCollector):
    """What dashd exposes; a daemon is up when its heartbeat is at most `stale_after_s` old
    and it has not stopped (the status page's rule)."""

    def __init__(self, db: str, stale_after_s: float) -> None:
        super().__init__(db)
        self.stale_after_s = stale_after_s

    def gauges(self, conn: sqlite3.Connection) -> Iterable[Metric]:
        failures = CounterMetricFamily(
            "switchboard_login_failures", "Failed dashboard logins (wrong user or password)"
        )
        failures.add_metric([], auth.failures_recorded(conn))
        up = GaugeMetricFamily(
            "switchboard_daemon_up",
            "1 when the daemon's heartbeat is fresh and it has not stopped, else 0",
            labels=["daemon"],
        )
        for health in health_of(store.list_daemons(conn), store.utcnow(), self.stale_after_s):
            up.add_metric([health.name], 1 if health.ok else 0)
        return [failures, up]


async def metrics_page(request: Request) -> Response:
    """`GET /metrics`: the registry in `app.state.metrics`, for loopback or the token."""
    registry: CollectorRegistry = request.app.state.metrics
    token: str | None = request.app.state.dashd.config.metrics_token
    client = request.client.host if request.client else None
    status, body, content_type = await run_in_threadpool(
        metrics_answer, registry, client, request.headers, token
    )
    return Response(body, status_code=status, media_type=content_type, headers=NO_STORE)
