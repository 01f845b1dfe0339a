"""Helpers shared by gated's channel tests (imported by conftest.py and the test modules): a
config and registering a channel; polling and the stand-in adapter come from `testkit`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from gated.config import Config

HERE = Path(__file__).resolve().parent
SECRET = "test-channel-secret"


def make_config(db: Path, **overrides: Any) -> Config:
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
    return Config(**values)


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
