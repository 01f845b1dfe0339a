"""Queries the gateway needs for agent batches: pending task messages, clearing in-flight state
(owned by gated's loop)."""

from __future__ import annotations

import sqlite3

from store.connection import tx
from store.messages import MAX_PAGE
from store.models import Message

# Parameters: group_folder, topic, after_seq (exclusive), upto_seq (inclusive), limit.
# Served by the messages primary key (seq range); task messages are rare.
PENDING_TASKS_SQL = """
SELECT * FROM messages
WHERE seq > ? AND seq <= ? AND verb = 'task' AND is_from_me = 0
  AND group_folder = ? AND topic = ?
ORDER BY seq LIMIT ?
"""


def pending_task_messages(
    conn: sqlite3.Connection,
    group_folder: str,
    topic: str,
    after_seq: int,
    upto_seq: int,
    limit: int = 50,
) -> list[Message]:
    """Task messages for (folder, topic) with after_seq < seq <= upto_seq, oldest first."""
    rows = conn.execute(
        PENDING_TASKS_SQL, (after_seq, upto_seq, group_folder, topic, min(limit, MAX_PAGE))
    ).fetchall()
    return [Message.from_row(r) for r in rows]


def clear_state(conn: sqlite3.Connection, key: str) -> bool:
    """Delete a router_state key; True when it existed."""
    with tx(conn):
        return conn.execute("DELETE FROM router_state WHERE key = ?", (key,)).rowcount > 0
