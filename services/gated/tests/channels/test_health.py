"""Adapter health: HealthMonitor pings GET {url}/health and records ok/down with the error, which
`channel_summary` (gated's daemons.info) reports."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import store
from fastapi.testclient import TestClient
from gated.adapters import HealthMonitor, channel_for_prefix, channel_summary
from gated.config import Config
from gated_channels_support import make_config, register
from testkit import StandinAdapter, wait_for


def test_health_is_recorded_ok_then_down(
    client: TestClient, adapter: StandinAdapter, config: Config, conn: sqlite3.Connection
) -> None:
    register(client, "chatx", adapter.url)
    assert channel_summary(conn)["chatx"]["health"] == "unknown"
    monitor = HealthMonitor(config)
    try:
        assert monitor.step(store.utcnow()) == config.health_interval_s
        summary = channel_summary(conn)["chatx"]
        assert (summary["health"], summary["error"], summary["url"]) == ("ok", None, adapter.url)
        assert summary["checked_at"]
        adapter.control(mode="500")
        monitor.step(store.utcnow())
        summary = channel_summary(conn)["chatx"]
        assert summary["health"] == "down"
        assert "500" in summary["error"]
        adapter.stop()
        monitor.step(store.utcnow())
        assert "ConnectError" in channel_summary(conn)["chatx"]["error"]
    finally:
        monitor.close()


def test_monitor_thread_pings_until_stopped(
    client: TestClient, adapter: StandinAdapter, db: Path, conn: sqlite3.Connection
) -> None:
    register(client, "chatx", adapter.url)
    monitor = HealthMonitor(make_config(db, health_interval_s=0.05))
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: channel_summary(conn)["chatx"]["health"] == "ok", what="health ok")
        adapter.control(mode="500")
        wait_for(lambda: channel_summary(conn)["chatx"]["health"] == "down", what="health down")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_lookup_by_extra_prefix(client: TestClient, conn: sqlite3.Connection) -> None:
    register(client, "chatx", jid_prefixes=["chatx-dm"])
    found = channel_for_prefix(conn, "chatx-dm")
    assert found is not None
    assert found.name == "chatx"
    assert channel_for_prefix(conn, "other") is None
