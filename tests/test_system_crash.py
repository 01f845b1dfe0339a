"""kill -9 each daemon in turn while messages, scheduled tasks and strangers keep arriving: the
harness restarts it, and no message is lost or answered twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx

KILL_ORDER = ("gated", "timed", "onbod", "dashd")
POST_RETRY_S = 60.0


def post_until_accepted(adapter: Any, chat_jid: str, msg_id: str, content: str) -> None:
    """Like a real adapter: retry the same message id until gated accepts it."""
    deadline = time.monotonic() + POST_RETRY_S
    while True:
        try:
            resp = httpx.post(
                f"{adapter.gated}/v1/messages",
                headers={"Authorization": f"Bearer {adapter.token}"},
                json={"chat_jid": chat_jid, "id": msg_id, "content": content, "sender": "u"},
                timeout=10,
            )
            if resp.status_code == 202:
                return
        except httpx.TransportError:
            pass  # gated is down right now
        if time.monotonic() > deadline:
            raise TimeoutError(f"gated never accepted {chat_jid} {msg_id}")
        time.sleep(0.1)


class Traffic(threading.Thread):
    """Posts a numbered message every ~50 ms, and a new stranger every tenth message."""

    def __init__(self, room: Any, strangers: Any) -> None:
        super().__init__(daemon=True)
        self.room = room
        self.strangers = strangers
        self.stop = threading.Event()
        self.accepted: list[int] = []
        self.stranger_jids: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        i = 0
        try:
            while not self.stop.is_set():
                post_until_accepted(self.room, "fake:room", f"m{i}", f"msg {i}")
                self.accepted.append(i)
                if i % 10 == 0:
                    jid = f"tg:{i}"
                    post_until_accepted(self.strangers, jid, "hello", "hello")
                    self.stranger_jids.append(jid)
                i += 1
                self.stop.wait(0.05)
        except BaseException as exc:
            self.error = exc


def settled_delivery(s: Any, expected: int) -> tuple[list[Any]] | None:
    """`(rows still leased by a killed gated,)` once every other reply was sent (a 1-tuple, so
    truthy for wait_for even when the list is empty); None while delivery is in progress."""
    rows = s.query(
        "SELECT o.status, o.claimed_by, m.content FROM outbox o JOIN messages m USING (seq) "
        "WHERE m.chat_jid = 'fake:room'"
    )
    live = str(s.procs["gated"].pid)
    if len(rows) != expected:
        return None
    leased = []
    for r in rows:
        if r["status"] == "sent":
            continue
        claimer_pid = (r["claimed_by"] or "::").split(":")[1]
        if r["status"] != "sending" or claimer_pid == live:
            return None
        leased.append(r)
    return (leased,)


def test_kill9_each_daemon_while_traffic_flows(fresh_system: Any) -> None:
    s = fresh_system
    room = s.adapter("fake")
    strangers = s.adapter("tg")
    s.cli("group", "add", "fake:room", "room")
    s.cli("group", "add", "web:beat", "beat")
    task = s.cli_json("task", "add", "--chat", "web:beat", "--cron", "* * * * * *", "--prompt", "b")

    traffic = Traffic(room, strangers)
    traffic.start()
    try:
        for name in KILL_ORDER:
            seen = len(traffic.accepted)
            s.wait_for(lambda seen=seen: len(traffic.accepted) >= seen + 3, 60, "traffic")
            s.kill9(name)  # SIGKILL, then the harness starts it again and waits for its heartbeat
        seen = len(traffic.accepted)
        s.wait_for(lambda: len(traffic.accepted) >= seen + 3, 60, "traffic after the last kill")
    finally:
        traffic.stop.set()
        traffic.join(timeout=POST_RETRY_S + 10)
    assert traffic.error is None, traffic.error
    s.cli("task", "pause", str(task["id"]))

    # Every accepted message is answered exactly once (stored once, delivered to the adapter).
    expected = Counter(f"echo: msg {i}" for i in traffic.accepted)
    s.wait_for(
        lambda: set(expected) <= set(s.replies("fake:room")), 60, "an answer to every message"
    )
    assert Counter(s.replies("fake:room")) == expected
    # Delivery is at-least-once: every stored reply reaches the adapter, except one a killed
    # gated had claimed ('sending'), which waits for its lease (store CLAIM_LEASE_S) to expire.
    # A repeat at the adapter always carries the same message id, so the platform can drop it.
    (leased,) = s.wait_for(lambda: settled_delivery(s, len(expected)), 60, "delivery to settle")
    delivered = Counter(room.texts("fake:room"))
    assert set(delivered) | {r["content"] for r in leased} == set(expected)
    by_id: dict[str, set[str]] = {}
    for body in room.sent("fake:room"):
        by_id.setdefault(f"{body['id']}#{body.get('part', 1)}", set()).add(body["text"])
    assert all(len(texts) == 1 for texts in by_id.values())

    # Every fired task slot has one message, answered once; no slot fired twice.
    runs = s.cli_json("task", "runs", str(task["id"]), "--limit", "100000")
    slots = [r["slot"] for r in runs if r["status"] == "fired"]
    assert len(slots) == len(set(slots)) > 0
    task_msgs = s.query("SELECT id FROM messages WHERE chat_jid = 'web:beat' AND verb = 'task'")
    assert len(task_msgs) == len(slots)
    s.wait_for(lambda: len(s.replies("web:beat")) >= len(slots), 60, "an answer to every task run")
    assert s.replies("web:beat") == ["echo: b"] * len(slots)

    # Every stranger was greeted exactly once, and no agent answered them.
    for jid in traffic.stranger_jids:
        s.wait_for(lambda jid=jid: s.replies(jid), 60, f"a greeting to {jid}")
    greetings = {jid: s.replies(jid) for jid in traffic.stranger_jids}
    assert all(len(texts) == 1 for texts in greetings.values()), greetings
    assert not any(t.startswith("echo:") for texts in greetings.values() for t in texts)

    logs = s.all_logs()
    assert not [n for n, text in logs.items() if "database is locked" in text.lower()]
