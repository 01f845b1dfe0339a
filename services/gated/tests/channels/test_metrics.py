"""gated's /metrics on the channel API: refused to a forged remote peer, to a loopback peer that
a proxy relayed, and to a wrong token; and a hostile adapter posting to 1,000 made-up channel
prefixes and jids adds no label value (they all count under channel="other")."""

from __future__ import annotations

import secrets
from pathlib import Path

from daemonkit.metrics import new_registry
from fastapi.testclient import TestClient
from gated.channels import create_app
from gated.metrics import KNOWN_CHANNELS, GatedMetrics
from gated_channels_support import make_config, register
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "scrape-token-for-tests"
LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.9", 50000)


def metrics_client(db: Path, client: tuple[str, int]) -> TestClient:
    config = make_config(db, metrics_token=TOKEN)
    app = create_app(config, new_registry(GatedMetrics(str(db), lambda: 0)))
    return TestClient(app, raise_server_exceptions=False, client=client)


def test_metrics_from_a_remote_address_without_token_are_forbidden(db: Path) -> None:
    with metrics_client(db, REMOTE) as remote:
        assert remote.get("/metrics").status_code == 403
        assert remote.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        served = remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert served.status_code == 200
        assert "switchboard_messages_received_total" in served.text


def test_metrics_relayed_by_a_proxy_on_loopback_count_as_remote(db: Path) -> None:
    with metrics_client(db, LOOPBACK) as local:
        assert local.get("/metrics").status_code == 200
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            assert local.get("/metrics", headers={header: "127.0.0.1"}).status_code == 403
        assert local.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 401


def series(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The switchboard_ samples of an exposition: name -> labels -> value."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("switchboard_"):
                out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_labels_stay_bounded_when_an_adapter_posts_to_1000_channels_and_jids(db: Path) -> None:
    with metrics_client(db, LOOPBACK) as client:
        before = series(client.get("/metrics").text)
        posted = 0
        for _ in range(63):  # 63 channels x 16 prefixes: 1,008 made-up channel names
            prefixes = [f"x{secrets.token_hex(6)}" for _ in range(16)]
            token = register(client, f"c{secrets.token_hex(6)}", jid_prefixes=prefixes)
            for prefix in prefixes:
                if posted == 1000:
                    break
                resp = client.post(
                    "/v1/messages",
                    json={
                        "chat_jid": f"{prefix}:{secrets.token_hex(8)}",
                        "id": "m1",
                        "content": "hi",
                        "sender": secrets.token_hex(4),
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert resp.status_code == 202, resp.text
                posted += 1
        after = series(client.get("/metrics").text)
    assert posted == 1000
    received = after["switchboard_messages_received_total"]
    assert received[(("channel", "other"),)] == 1000
    assert {dict(k)["channel"] for k in received} == {*KNOWN_CHANNELS, "other"}
    # Not one series more than on an empty database.
    assert {name: set(v) for name, v in after.items()} == {
        name: set(v) for name, v in before.items()
    }
