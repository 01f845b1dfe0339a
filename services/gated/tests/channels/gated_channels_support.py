"""Helpers shared by gated's channel tests (imported by conftest.py and the test modules):
polling with a deadline, a config, registering a channel, and the stand-in adapter process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from gated.config import GatedConfig

HERE = Path(__file__).resolve().parent
SECRET = "test-channel-secret"


def wait_until(cond: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `cond()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def make_config(db: Path, **overrides: Any) -> GatedConfig:
    values: dict[str, Any] = {
        "db": str(db),
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "channel_secret": SECRET,
        "max_agents": 4,
        "agent_timeout_s": 30.0,
        "default_agent": "switchboard-echo",
        "health_interval_s": 30.0,
        "max_delivery_attempts": 8,
        "email": None,
    }
    values.update(overrides)
    return GatedConfig(**values)


def register(
    client: TestClient | httpx.Client,
    name: str = "chatx",
    url: str = "http://127.0.0.1:9/",
    **body: Any,
) -> str:
    resp = client.post(
        "/v1/channels/register",
        json={"name": name, "url": url, **body},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


class StandinAdapter:
    """A real adapter process on 127.0.0.1 speaking gated's /send and /health protocol."""

    def __init__(self, record: Path) -> None:
        self.record = record
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "standin_adapter.py"),
                "--port",
                str(self.port),
                "--record",
                str(self.record),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def control(self, **state: Any) -> None:
        httpx.post(f"{self.url}/control", json=state, timeout=5).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/stats", timeout=5).json())

    def sends(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line]
