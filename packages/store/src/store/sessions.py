"""Agent sessions per (folder, topic), the per-run session_log, and queued system messages."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from store import validate
from store.clock import now_iso
from store.connection import tx
from store.models import SessionRun, SystemMessage


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


def log_session_start(
    conn: sqlite3.Connection,
    group_folder: str,
    topic: str,
    chat_jid: str | None,
    session_id: str | None,
) -> int:
    """Open a session_log row for an agent run; returns its id."""
    validate.folder(group_folder, "group_folder")
    validate.short_text(topic, "topic")
    if chat_jid is not None:
        validate.jid(chat_jid, "chat_jid")
    if session_id is not None:
        validate.short_text(session_id, "session_id")
    with tx(conn):
        row = conn.execute(
            "INSERT INTO session_log (group_folder, topic, chat_jid, session_id, started_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (group_folder, topic, chat_jid, session_id, now_iso()),
        ).fetchone()
        return int(row[0])


def log_session_end(
    conn: sqlite3.Connection,
    run_id: int,
    result: str,
    *,
    session_id: str | None = None,
    error: str | None = None,
) -> None:
    """Close a session_log row with its result (ok, error, timeout, killed)."""
    validate.short_text(result, "result", allow_empty=False)
    with tx(conn):
        conn.execute(
            "UPDATE session_log SET ended_at = ?, result = ?, error = ?, "
            "session_id = COALESCE(?, session_id) WHERE id = ?",
            (now_iso(), result, error[:4000] if error else None, session_id, run_id),
        )


def close_abandoned_runs(
    conn: sqlite3.Connection, reason: str = "gateway restarted", *, keep: Collection[int] = ()
) -> int:
    """Mark runs left open by a dead gateway as killed, except the `keep` ids (runs a live
    gateway still owns); returns how many."""
    kept = sorted(keep)
    with tx(conn):
        cur = conn.execute(
            "UPDATE session_log SET ended_at = ?, result = 'killed', error = ? "
            f"WHERE ended_at IS NULL AND id NOT IN ({','.join('?' * len(kept))})",
            (now_iso(), reason, *kept),
        )
        return cur.rowcount


def close_abandoned_run(conn: sqlite3.Connection, run_id: int, reason: str) -> bool:
    """Mark one run as killed if it is still open (its gateway is gone); True when it was."""
    with tx(conn):
        cur = conn.execute(
            "UPDATE session_log SET ended_at = ?, result = 'killed', error = ? "
            "WHERE id = ? AND ended_at IS NULL",
            (now_iso(), reason, run_id),
        )
        return cur.rowcount == 1


def session_runs(
    conn: sqlite3.Connection,
    *,
    group_folder: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    errors_only: bool = False,
    running_only: bool = False,
    folders: list[str] | None = None,
) -> list[SessionRun]:
    """session_log rows, newest first, filtered and paged by id."""
    sql = "SELECT * FROM session_log WHERE id < ?"
    params: list[object] = [before_id if before_id is not None else 2**62]
    if group_folder is not None:
        sql += " AND group_folder = ?"
        params.append(group_folder)
    if folders is not None:
        sql += f" AND group_folder IN ({','.join('?' * len(folders))})"
        params += folders
    if errors_only:
        sql += " AND result IS NOT NULL AND result != 'ok'"
    if running_only:
        sql += " AND ended_at IS NULL"
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [
        SessionRun(
            id=r["id"],
            group_folder=r["group_folder"],
            topic=r["topic"],
            chat_jid=r["chat_jid"],
            session_id=r["session_id"],
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            result=r["result"],
            error=r["error"],
        )
        for r in conn.execute(sql, params)
    ]


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
