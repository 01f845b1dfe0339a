"""onbod's Prometheus metrics: onboarding requests by status, read from `onboarding` at scrape
time. Served with `--metrics-listen`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from daemonkit.tally import DbCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from onbod import records


class OnbodMetrics(DbCollector):
    """What onbod exposes."""

    def gauges(self, conn: sqlite3.Connection) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "switchboard_onboarding",
            "Onboarding requests (unknown chats) by status",
            labels=["status"],
        )
        for status, n in records.status_counts(conn).items():
            family.add_metric([status], n)
        return [family]
