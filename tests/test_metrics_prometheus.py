"""A real Prometheus scrapes all four daemons (real processes on a temp db) every 0.5 s during a
known workload — messages in through gated's API from a stand-in adapter, their replies
delivered, a task fired by timed, an onboarding request, a failed dashboard login — and its
HTTP API must show exactly that workload, also after gated restarts; `promtool check metrics`
accepts every endpoint's output."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from testkit import prometheus
from testkit.prometheus import PrometheusServer

N = 5  # messages the adapter posts to a registered chat, one reply each
CHAT = "telegram:100"
STRANGER = "telegram:999"
JOBS = ("gated", "timed", "onbod", "dashd")


@pytest.fixture
def scraped(unstarted_system: Any, free_port: Any) -> Iterator[tuple[Any, PrometheusServer]]:
    """The four daemons with metrics on, and a Prometheus scraping them until all are up."""
    if prometheus.binaries() is None:
        pytest.skip(prometheus.MISSING)
    system = unstarted_system
    timed_port, onbod_port = free_port(), free_port()
    system.env["SWITCHBOARD_TIMED_METRICS_LISTEN"] = f"127.0.0.1:{timed_port}"
    system.env["SWITCHBOARD_ONBOD_METRICS_LISTEN"] = f"127.0.0.1:{onbod_port}"
    system.start()
    targets = {
        "gated": f"127.0.0.1:{system.gated_port}",
        "timed": f"127.0.0.1:{timed_port}",
        "onbod": f"127.0.0.1:{onbod_port}",
        "dashd": f"127.0.0.1:{system.dashd_port}",
    }
    server = PrometheusServer(system.root / "prometheus", targets).start()
    system.metrics_urls = {job: f"http://{t}/metrics" for job, t in targets.items()}
    try:
        system.wait_for(
            lambda: server.value("sum(up)") == len(JOBS), 60, "prometheus scraping all four"
        )
        yield system, server
    finally:
        server.stop()


def run_workload(system: Any, csrf: Any) -> None:
    adapter = system.adapter("telegram")
    system.cli("group", "add", CHAT, "metrics")
    for i in range(N):
        adapter.post(CHAT, f"m{i}", f"hello {i}")
        system.wait_for(lambda i=i: len(adapter.texts(CHAT)) == i + 1, 30, f"reply {i}")
    # far enough ahead for the CLI to start on a loaded machine
    at = (datetime.now(UTC) + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    system.cli_json("task", "add", "--chat", CHAT, "--at", at, "--prompt", "tick")
    system.wait_for(lambda: "echo: tick" in adapter.texts(CHAT), 30, "the task's reply")
    adapter.post(STRANGER, "s1", "hello, who are you?")
    system.wait_for(lambda: adapter.texts(STRANGER), 30, "onbod's question to a new chat")
    with httpx.Client(base_url=system.dashd_url, timeout=15) as web:
        form = web.get("/login")
        resp = web.post(
            "/login",
            data={"csrf": csrf(form.text), "next": "/", "username": "nobody", "password": "x"},
        )
        assert resp.status_code == 401


# What the workload must show: N replies + the task's reply + onbod's question were sent; the
# stranger's message is received too; every ended run was the echo agent's, ok.
EXPECTED: dict[str, float] = {
    'sum(switchboard_messages_received_total{channel="telegram"})': N + 1,
    "sum(switchboard_messages_received_total)": N + 1,
    'sum(switchboard_messages_sent_total{channel="telegram"})': N + 2,
    "sum(switchboard_messages_sent_total)": N + 2,
    "sum(switchboard_delivery_seconds_count)": N + 2,
    'sum(switchboard_agent_runs_total{folder="metrics",result="ok"})': N + 1,
    "sum(switchboard_agent_runs_total)": N + 1,
    "sum(switchboard_agent_run_seconds_count)": N + 1,
    "sum(switchboard_sandbox_limit_kills_total)": 0,
    'sum(switchboard_task_fires_total{status="fired"})': 1,
    "sum(switchboard_task_fires_total)": 1,
    "sum(switchboard_task_lateness_seconds_count)": 1,
    'sum(switchboard_onboarding{status="awaiting_name"})': 1,
    "sum(switchboard_onboarding)": 1,
    "sum(switchboard_login_failures_total)": 1,
    "sum(switchboard_daemon_up)": 4,
    "count(switchboard_daemon_up)": 4,
    "sum(switchboard_outbox)": 0,
    "sum(switchboard_queue_depth)": 0,
    "sum(switchboard_tool_calls_total)": 0,
    "sum(switchboard_egress_total)": 0,
    "sum(up)": 4,
}


def mismatches(server: PrometheusServer) -> dict[str, float | None]:
    """The expressions whose value now differs from EXPECTED, with the value Prometheus has."""
    found = {expr: server.value(expr) for expr in EXPECTED}
    return {expr: v for expr, v in found.items() if v != EXPECTED[expr]}


def test_prometheus_sees_exactly_the_workload_and_promtool_accepts_it(
    scraped: tuple[Any, PrometheusServer], csrf: Any
) -> None:
    system, server = scraped
    run_workload(system, csrf)
    try:
        system.wait_for(lambda: not mismatches(server), 30, "Prometheus to show the workload")
    except AssertionError:
        pytest.fail(f"Prometheus disagrees with the workload: {mismatches(server)}")
    check_every_endpoint(system, server)

    # Counted from the rows: a restarted gated serves the same totals, and Prometheus sees no
    # counter reset across the restart.
    before = server.value('process_start_time_seconds{job="gated"}') or 0
    system.restart("gated")
    system.wait_for(
        lambda: (server.value('process_start_time_seconds{job="gated"}') or 0) > before,
        30,
        "Prometheus to scrape the new gated",
    )
    assert not mismatches(server)
    assert server.value("sum(resets(switchboard_messages_received_total[5m]))") == 0
    assert server.value("sum(resets(switchboard_agent_runs_total[5m]))") == 0


def check_every_endpoint(system: Any, server: PrometheusServer) -> None:
    """`promtool check metrics` accepts each daemon's /metrics, without a lint warning."""
    for job, url in system.metrics_urls.items():
        resp = httpx.get(url, timeout=10)
        assert resp.status_code == 200, f"{job}: {resp.status_code} {resp.text[:200]}"
        assert resp.headers["content-type"].startswith("text/plain; version=")
        checked = server.check_metrics(resp.text)
        assert checked.returncode == 0, f"{job}: {checked.stdout}{checked.stderr}"
        assert not (checked.stdout + checked.stderr).strip(), f"{job}: promtool complains"
