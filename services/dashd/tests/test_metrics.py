"""dashd's /metrics: refused to a forged remote peer, to a loopback peer a proxy relayed and to
a wrong token; failed logins counted exactly, also after the rate limit's pruning deletes the
rows; a daemon without a fresh heartbeat is 0 in switchboard_daemon_up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import store
from dashd import auth
from dashd.app import create_app
from dashd.config import Config
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

TOKEN = "dashd-scrape-token"


def client(db: Path, peer: str) -> TestClient:
    app = create_app(Config(db_path=str(db), metrics_token=TOKEN))
    return TestClient(app, client=(peer, 50000))


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("switchboard_")
    }


def test_dashd_metrics_need_loopback_or_the_token(db: Path) -> None:
    with client(db, "198.51.100.4") as remote:
        assert remote.get("/metrics").status_code == 403
        assert remote.get("/metrics", headers={"Authorization": "Bearer no"}).status_code == 401
        assert (
            remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        )
    with client(db, "127.0.0.1") as local:
        assert local.get("/metrics").status_code == 200
        assert local.get("/metrics", headers={"X-Forwarded-For": "1.2.3.4"}).status_code == 403


def test_failed_logins_stay_counted_after_pruning_and_stale_daemons_are_down(db: Path) -> None:
    write = store.connect(db)
    try:
        now = store.utcnow()
        before = values(client(db, "127.0.0.1").get("/metrics").text)
        failures = before[("switchboard_login_failures_total", ())]
        for _ in range(3):
            auth.record_failure(write, "192.0.2.1", "mallory", now - timedelta(hours=2))
        assert auth.prune(write, now) >= 3  # the rate limit forgets them...
        store.heartbeat(write, "timed")
        write.execute(
            "UPDATE daemons SET heartbeat_at = ? WHERE name = 'timed'",
            (store.iso(now - timedelta(minutes=5)),),
        )
        store.heartbeat(write, "onbod")
        after = values(client(db, "127.0.0.1").get("/metrics").text)
    finally:
        write.close()
    # ...the counter does not.
    assert after[("switchboard_login_failures_total", ())] == failures + 3
    assert after[("switchboard_daemon_up", (("daemon", "timed"),))] == 0
    assert after[("switchboard_daemon_up", (("daemon", "onbod"),))] == 1
    assert after[("switchboard_daemon_up", (("daemon", "gated"),))] == 0  # never ran here
