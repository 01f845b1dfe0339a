"""The adapter going down and coming back (same address) again and again while replies flow:
every reply reaches it, once per message id, and none is given up on."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx
from testkit import StandinAdapter

from .conftest import REPEATS, post_until_accepted  # type: ignore[import-not-found]


def test_adapter_flapping_delivers_every_reply_once(fresh_system: Any, free_port: Any) -> None:
    s = fresh_system
    # The platform, restartable on the same port; killed (no clean shutdown) for each outage.
    platform = StandinAdapter(s.root / "flap.jsonl", port=free_port()).start()
    s.wait_for(platform.healthy, 10, "the adapter up")
    resp = httpx.post(
        f"{s.gated_url}/v1/channels/register",
        headers={"Authorization": f"Bearer {s.env['SWITCHBOARD_CHANNEL_SECRET']}"},
        json={"name": "flap", "url": f"http://127.0.0.1:{platform.port}", "jid_prefixes": []},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    client = type("Client", (), {"gated": s.gated_url, "token": resp.json()["token"]})()
    s.cli("group", "add", "flap:room", "flaproom")

    accepted: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        i = 0
        while not stop.is_set():
            post_until_accepted(client, "flap:room", f"m{i}", f"msg {i}")
            accepted.append(i)
            i += 1
            stop.wait(0.05)

    poster = threading.Thread(target=traffic, daemon=True)
    poster.start()
    try:
        for _ in range(max(REPEATS, 3)):
            seen = len(accepted)
            s.wait_for(lambda seen=seen: len(accepted) >= seen + 3, 30, "traffic while up")
            platform.kill()
            seen = len(accepted)
            # Down while a few more messages are answered (their delivery fails and is retried).
            s.wait_for(lambda seen=seen: len(accepted) >= seen + 4, 30, "traffic while down")
            platform.start()
            s.wait_for(platform.healthy, 10, "the adapter back")
    finally:
        stop.set()
        poster.join(timeout=70)
    try:
        expected = {f"echo: msg {i}" for i in accepted}
        s.wait_for(
            lambda: expected <= {b["text"] for b in platform.sends()}, 90, "every reply delivered"
        )
        bodies = platform.sends()
        by_id = Counter(f"{b['id']}#{b.get('part', 1)}" for b in bodies)
        assert len(by_id) == len(expected), "a reply was sent under two ids"
        # A reply the adapter recorded just before it was killed (no HTTP answer) is sent again
        # with the same id, which the platform drops: at most one such repeat per outage.
        assert sum(by_id.values()) - len(by_id) <= max(REPEATS, 3), by_id.most_common(5)
        statuses = s.query(
            "SELECT o.status, COUNT(*) AS n FROM outbox o JOIN messages m USING (seq) "
            "WHERE m.chat_jid = 'flap:room' GROUP BY o.status"
        )
        assert {r["status"]: r["n"] for r in statuses} == {"sent": len(expected)}
        retried = s.query("SELECT COUNT(*) AS n FROM outbox WHERE attempts > 1")[0]["n"]
        assert retried > 0, "no delivery failed: the outages were not exercised"
    finally:
        platform.kill()
