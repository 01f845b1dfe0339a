"""Agent sessions per (folder, topic) and queued system messages (the per-run session_log is
store.runs)."""

from __future__ import annotations

import sqlite3

from store import validate
from store.clock import now_iso
from store.connection import tx
from store.models import SystemMessage


def get_session(conn: sqlite3.Connection, group_folder: str, topic: str = "") -> str | None:
    row = conn.execute(
        "SELECT session_id FROM sessions WHERE group_folder = ? AND topic = ?",
        (group_folder, topic),
    ).fetchone()
    return row[0] if row else None


def set_session(conn: sqlite3.Connection, group_folder: str, topic: str, session_id: str) -> None:
    validate.folder(group_folder, "group_folder")
    validate.short_text(topic, "topic")
    validate.short_text(session_id, "session_id", allow_empty=False)
    with tx(conn):
        conn.execute(
            "INSERT INTO sessions (group_folder, topic, session_id, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (group_folder, topic) DO UPDATE SET "
            "session_id = excluded.session_id, updated_at = excluded.updated_at",
            (group_folder, topic, session_id, now_iso()),
        )


def delete_session(conn: sqlite3.Connection, group_folder: str, topic: str = "") -> bool:
    """Forget a session (the next run starts fresh); True when one existed."""
    with tx(conn):
        cur = conn.execute(
            "DELETE FROM sessions WHERE group_folder = ? AND topic = ?", (group_folder, topic)
        )
        return cur.rowcount > 0


def list_sessions(conn: sqlite3.Connection, folders: list[str] | None = None) -> list[sqlite3.Row]:
    sql = "SELECT * FROM sessions"
    params: list[str] = []
    if folders is not None:
        sql += f" WHERE group_folder IN ({','.join('?' * len(folders))})"
        params = folders
    return conn.execute(sql + " ORDER BY updated_at DESC", params).fetchall()


def add_system_message(
    conn: sqlite3.Connection, group_folder: str, origin: str, event: str, body: str
) -> int:
    """Queue an event for a group's agent; it is flushed into the next prompt."""
    validate.folder(group_folder, "group_folder")
    validate.short_text(origin, "origin", allow_empty=False)
    validate.short_text(event, "event", allow_empty=False)
    validate.content(body, "body")
    with tx(conn):
        row = conn.execute(
            "INSERT INTO system_messages (group_folder, origin, event, body, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (group_folder, origin, event, body, now_iso()),
        ).fetchone()
        return int(row[0])


def flush_sys_msgs(conn: sqlite3.Connection, group_folder: str) -> list[SystemMessage]:
    """Take (return and delete) a group's pending system messages, oldest first."""
    with tx(conn):
        rows = conn.execute(
            "DELETE FROM system_messages WHERE group_folder = ? RETURNING *", (group_folder,)
        ).fetchall()
    msgs = [
        SystemMessage(
            id=r["id"],
            group_folder=r["group_folder"],
            origin=r["origin"],
            event=r["event"],
            body=r["body"],
            created_at=r["created_at"],
        )
        for r in rows
    ]
    return sorted(msgs, key=lambda m: m.id)


def pending_system_messages(conn: sqlite3.Connection, group_folder: str) -> list[SystemMessage]:
    """A group's queued system messages without taking them."""
    return [
        SystemMessage(
            id=r["id"],
            group_folder=r["group_folder"],
            origin=r["origin"],
            event=r["event"],
            body=r["body"],
            created_at=r["created_at"],
        )
        for r in conn.execute(
            "SELECT * FROM system_messages WHERE group_folder = ? ORDER BY id", (group_folder,)
        )
    ]
