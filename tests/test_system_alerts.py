"""Alerts through the whole system (stale time 10 s): timed frozen with SIGSTOP → one alert in the
operator chat within the stale time of its last heartbeat, SIGCONT → one recovery message; and
gated frozen → dashd, still alive, raises gated's alert (stored at once, visible in the
operator's web chat) and its recovery, each once."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

STALE_S = 10.0
HEARTBEAT_S = 5.0  # daemonkit.runner.HEARTBEAT_S
CHECK_S = 2.0  # daemonkit.alerts.CHECK_S


@pytest.fixture
def alerting(unstarted_system: Any) -> Any:
    unstarted_system.env["SWITCHBOARD_ALERT_STALE_S"] = str(STALE_S)
    unstarted_system.start()
    unstarted_system.cli("group", "add", "web:ops", "ops", "--operator")
    return unstarted_system


def alerts(system: Any) -> list[str]:
    return [
        r["content"]
        for r in system.query(
            "SELECT content FROM messages WHERE chat_jid = 'web:ops' AND source = 'alert' "
            "ORDER BY seq"
        )
    ]


def freeze_and_thaw(system: Any, name: str, seen_before: int) -> None:
    """SIGSTOP `name`: its alert within the stale time (+ one check) of its last heartbeat,
    once; SIGCONT: one recovery within a heartbeat (+ one check)."""
    pid = system.procs[name].pid
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        system.wait_for(lambda: len(alerts(system)) > seen_before, 30, f"{name}'s alert")
        took = time.monotonic() - stopped
        [text] = alerts(system)[seen_before:]
        assert text.startswith(f"ALERT: {name} has not been heard from for ")
        assert f"pid {pid} on " in text
        assert f"journalctl -u switchboard-{name}" in text
        assert took <= STALE_S + CHECK_S + 3.0, took  # + slack for a loaded machine
        time.sleep(2 * CHECK_S)  # more checks: no second alert
        assert len(alerts(system)) == seen_before + 1
    finally:
        os.kill(pid, signal.SIGCONT)
    thawed = time.monotonic()
    system.wait_for(lambda: len(alerts(system)) > seen_before + 1, 30, f"{name}'s recovery")
    assert time.monotonic() - thawed <= HEARTBEAT_S + CHECK_S + 3.0
    recovered = alerts(system)[seen_before + 1]
    assert recovered.startswith(f"RECOVERED: {name} is heard from again (heartbeat ")
    time.sleep(2 * CHECK_S)
    assert len(alerts(system)) == seen_before + 2


def test_a_frozen_daemon_is_alerted_once_and_its_recovery_once(alerting: Any) -> None:
    freeze_and_thaw(alerting, "timed", 0)


def test_dashd_alerts_about_a_frozen_gated(alerting: Any) -> None:
    """Only dashd watches gated: the alert is stored while gated cannot store anything."""
    freeze_and_thaw(alerting, "gated", 0)
    assert "alert: ALERT: gated has not been heard from" in alerting.log("dashd")
