"""Every query on `email_threads` (gated's table): one row per thread, keyed by the root
Message-ID, updated by inbound mail (`note_inbound`) and by our sent replies (`note_outbound`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import store

# Ids kept per thread row: the root and the latest ones (References is trimmed the same way).
MAX_THREAD_REFS: Final = 50

# Parameters: thread_id, chat_jid, subject, last_message_id, references, created_at, updated_at.
UPSERT_THREAD_SQL = """
INSERT INTO email_threads (thread_id, chat_jid, subject, last_message_id, "references",
                           created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (thread_id) DO UPDATE SET
    last_message_id = excluded.last_message_id,
    "references" = excluded."references",
    updated_at = excluded.updated_at
"""


@dataclass(frozen=True, slots=True)
class EmailThread:
    thread_id: str
    chat_jid: str
    subject: str
    last_message_id: str
    references: tuple[str, ...]
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> EmailThread:
        return cls(
            thread_id=row["thread_id"],
            chat_jid=row["chat_jid"],
            subject=row["subject"],
            last_message_id=row["last_message_id"],
            references=tuple(row["references"].split()),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def merge_refs(existing: Sequence[str], new: Sequence[str]) -> list[str]:
    """Ordered union of two id lists, trimmed to the root + the latest MAX_THREAD_REFS - 1."""
    refs = list(existing)
    for ref in new:
        if ref and ref not in refs:
            refs.append(ref)
    if len(refs) > MAX_THREAD_REFS:
        refs = [refs[0], *refs[-(MAX_THREAD_REFS - 1) :]]
    return refs


def get_thread(conn: sqlite3.Connection, thread_id: str) -> EmailThread | None:
    row = conn.execute("SELECT * FROM email_threads WHERE thread_id = ?", (thread_id,)).fetchone()
    return EmailThread.from_row(row) if row else None


def latest_thread(conn: sqlite3.Connection, chat_jid: str) -> EmailThread | None:
    """The chat's most recently active thread (for a message that answers nothing in particular)."""
    row = conn.execute(
        "SELECT * FROM email_threads WHERE chat_jid = ? ORDER BY updated_at DESC, rowid DESC "
        "LIMIT 1",
        (chat_jid,),
    ).fetchone()
    return EmailThread.from_row(row) if row else None


def threads_for_chat(conn: sqlite3.Connection, chat_jid: str) -> list[EmailThread]:
    rows = conn.execute(
        "SELECT * FROM email_threads WHERE chat_jid = ? ORDER BY updated_at DESC", (chat_jid,)
    ).fetchall()
    return [EmailThread.from_row(r) for r in rows]


def note_message(
    conn: sqlite3.Connection,
    *,
    thread_id: str,
    chat_jid: str,
    subject: str,
    message_id: str,
    references: Sequence[str],
    now: str,
) -> EmailThread:
    """Record that `message_id` (with its References) belongs to the thread; joins an open tx."""
    with store.tx(conn):
        current = get_thread(conn, thread_id)
        refs = merge_refs(
            current.references if current else (), [thread_id, *references, message_id]
        )
        conn.execute(
            UPSERT_THREAD_SQL,
            (thread_id, chat_jid, subject, message_id, " ".join(refs), now, now),
        )
    found = get_thread(conn, thread_id)
    assert found is not None
    return found
