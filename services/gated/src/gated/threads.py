"""Platform threads as session topics: an inbound `thread_id` (adapter protocol 1.1) names the
topic `thread:<id>`, and a reply to that topic goes back into the thread. The mapping lives in
gated's `thread_topics` table."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from typing import Final

import store

PREFIX: Final = "thread:"
# A topic is `[\w.:-]{1,64}` (gated.commands.TOPIC_RE): the id must fit in what is left.
PLAIN_ID_RE: Final = re.compile(r"[\w.:-]{1,57}", re.ASCII)
MAX_THREAD_ID: Final = 255


def topic_name(thread_id: str) -> str:
    """The topic of a thread: `thread:<id>` when the id is short and plain, else a hash of it."""
    if PLAIN_ID_RE.fullmatch(thread_id):
        return PREFIX + thread_id
    return PREFIX + hashlib.sha256(thread_id.encode()).hexdigest()[:16]


def topic_for_thread(conn: sqlite3.Connection, chat_jid: str, thread_id: str) -> str:
    """The topic of `thread_id` in `chat_jid`, remembered so replies find the thread again.
    Writes in its own short transaction (call it outside one)."""
    if not thread_id or len(thread_id) > MAX_THREAD_ID:
        raise store.InvalidInput("thread_id", f"must be 1..{MAX_THREAD_ID} characters")
    topic = topic_name(thread_id)
    with store.tx(conn):
        conn.execute(
            "INSERT INTO thread_topics (chat_jid, topic, thread_id, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (chat_jid, topic) DO NOTHING",
            (chat_jid, topic, thread_id, store.now_iso()),
        )
    return topic


def thread_for_topic(conn: sqlite3.Connection, chat_jid: str, topic: str) -> str | None:
    """The platform thread a topic came from, or None (the main conversation)."""
    if not topic.startswith(PREFIX):
        return None
    row = conn.execute(
        "SELECT thread_id FROM thread_topics WHERE chat_jid = ? AND topic = ?", (chat_jid, topic)
    ).fetchone()
    return str(row[0]) if row else None
