"""Agents that hang, crash, flood stdout or write invalid JSON: gated keeps serving, a healthy
group in the same gated answers every message once, and each bad run is recorded as failed."""

from __future__ import annotations

from typing import Any

import store

BAD = ("hang", "crash", "flood", "badjson")


def results(s: Any, folder: str) -> list[str]:
    rows = s.query(
        "SELECT result FROM session_log WHERE group_folder = ? AND result IS NOT NULL", folder
    )
    return [r["result"] for r in rows]


def test_misbehaving_agents_do_not_stop_other_groups(
    fresh_system: Any, bad_agents: dict[str, str]
) -> None:
    s = fresh_system
    chat = s.adapter("fake")
    conn = store.open(s.db)
    try:
        store.register_group(conn, "fake:ok", "okgroup")
        for name in BAD:
            config = {"command": bad_agents[name], "timeout_s": 2}
            store.register_group(conn, f"fake:{name}", name, agent_config=config)
    finally:
        conn.close()

    for name in BAD:
        chat.post(f"fake:{name}", "b1", f"please {name}")
    for i in range(5):
        chat.post("fake:ok", f"ok{i}", f"fine {i}")
        s.wait_for(
            lambda i=i: f"echo: fine {i}" in chat.texts("fake:ok"), 30, f"the answer to ok{i}"
        )

    s.wait_for(lambda: "timeout" in results(s, "hang"), 30, "the hanging agent's timeout")
    s.wait_for(lambda: "error" in results(s, "crash"), 30, "the crashed run recorded")
    s.wait_for(lambda: results(s, "flood"), 60, "the flooding run to end")
    s.wait_for(lambda: "error" in results(s, "badjson"), 30, "the invalid-JSON run recorded")
    # Retried failures end with the chat marked errored, not with gated giving up on others.
    s.wait_for(
        lambda: s.query("SELECT 1 FROM chats WHERE jid = 'fake:crash' AND errored = 1"),
        60,
        "the crashing chat marked errored",
    )

    assert s.procs["gated"].poll() is None, s.log("gated")[-3000:]
    chat.post("fake:ok", "after", "still there?")
    s.wait_for(lambda: "echo: still there?" in chat.texts("fake:ok"), 30, "an answer afterwards")
    assert chat.texts("fake:ok") == [f"echo: fine {i}" for i in range(5)] + ["echo: still there?"]
    # No bad agent's garbage reached a chat (the flood's 2 KB lines are not JSON replies).
    for name in BAD:
        assert not [t for t in chat.texts(f"fake:{name}") if "xxxx" in t or "not json" in t]
    assert s.heartbeat_fresh("gated", s.procs["gated"].pid)
