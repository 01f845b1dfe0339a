"""The email rate counts read a bounded window of the chat's newest messages, not its whole
history: their cost stays flat as a chat grows (a finding of the proof suite)."""

from __future__ import annotations

import time
from pathlib import Path

import store
from store.rates import (
    HAS_RECEIVED_SQL,
    RECEIVED_SINCE_SQL,
    SENT_SINCE_SQL,
    WINDOW_ROWS,
    received_since,
    sent_since,
)
from switchboard.schemas import open_all

NOW = "2026-11-23T10:00:00.000Z"
JID = "email:a@b.example"


def test_rate_queries_use_the_chat_index(tmp_path: Path) -> None:
    conn = open_all(tmp_path / "m.db")
    for sql, params in (
        (RECEIVED_SINCE_SQL, (JID, WINDOW_ROWS, "message", NOW)),
        (SENT_SINCE_SQL, (JID, WINDOW_ROWS, NOW)),
        (HAS_RECEIVED_SQL, (JID, "message")),
    ):
        plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "messages_chat_seq" in plan or "sqlite_autoindex_messages" in plan, plan
        assert "SCAN messages" not in plan.replace("USING", "|USING"), plan


def test_rate_count_cost_does_not_grow_with_history(tmp_path: Path) -> None:
    conn = open_all(tmp_path / "m.db")
    rows = [(f"m{i}", JID, "x", f"2026-11-2{i % 3}T00:00:00.000Z") for i in range(60_000)]
    with store.tx(conn):
        conn.executemany(
            "INSERT INTO messages (id, chat_jid, content, timestamp) VALUES (?, ?, ?, ?)", rows
        )
    # Saturates at the window: still far above any per-hour limit.
    assert received_since(conn, JID, "") == WINDOW_ROWS
    assert sent_since(conn, JID, "") == 0
    started = time.perf_counter()
    for _ in range(20):
        received_since(conn, JID, NOW)
    per_call = (time.perf_counter() - started) / 20
    # A scan of 60k rows takes several ms; the window read well under that on any machine.
    assert per_call < 0.02, per_call
