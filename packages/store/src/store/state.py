"""Small persisted state (`router_state`) and daemon liveness rows (`daemons`), on either
backend: each write is one statement that decides by itself (an upsert, a compare-and-set),
so it holds under PostgreSQL's READ COMMITTED as under SQLite's single writer."""

from __future__ import annotations

import json
from typing import Any

from store import validate
from store.clock import now_iso
from store.connection import tx
from store.dbapi import Conn
from store.liveness import me
from store.models import Daemon

# Parameters: name, pid, host, pid_start, instance, version, started_at, heartbeat_at, info.
HEARTBEAT_SQL = """
INSERT INTO daemons (name, pid, host, pid_start, instance, version, started_at, heartbeat_at,
                     stopped_at, info)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
ON CONFLICT (name) DO UPDATE SET
    pid = excluded.pid, host = excluded.host, pid_start = excluded.pid_start,
    instance = excluded.instance, version = excluded.version, started_at = excluded.started_at,
    heartbeat_at = excluded.heartbeat_at, stopped_at = NULL, info = excluded.info
"""


# Parameters: key, seq as text, seq. The row is inserted, or updated only when it holds a
# smaller seq (PostgreSQL re-checks the WHERE on the locked, latest row).
ADVANCE_CURSOR_SQL = """
INSERT INTO router_state (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value
WHERE CAST(router_state.value AS BIGINT) < ?
"""


def get_state(conn: Conn, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM router_state WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_state(conn: Conn, key: str, value: str) -> None:
    validate.short_text(key, "key", allow_empty=False)
    with tx(conn):
        conn.execute(
            "INSERT INTO router_state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def cas_state(conn: Conn, key: str, expected: str | None, value: str) -> bool:
    """Set key to value only if it currently holds `expected` (None = absent)."""
    validate.short_text(key, "key", allow_empty=False)
    with tx(conn):
        if expected is None:
            cur = conn.execute(
                "INSERT INTO router_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, value),
            )
        else:
            cur = conn.execute(
                "UPDATE router_state SET value = ? WHERE key = ? AND value = ?",
                (value, key, expected),
            )
        return cur.rowcount == 1


def advance_cursor(conn: Conn, key: str, seq: int) -> bool:
    """Move the seq cursor under `key` forward to `seq`, never back (another writer may have
    moved it past: gated skipping what an unregistered chat said while a run was finishing);
    True when it moved. One statement: two racing writers cannot move it back."""
    validate.short_text(key, "key", allow_empty=False)
    with tx(conn):
        return conn.execute(ADVANCE_CURSOR_SQL, (key, str(seq), seq)).rowcount == 1


def clear_state(conn: Conn, key: str) -> bool:
    """Delete a router_state key; True when it existed."""
    with tx(conn):
        return conn.execute("DELETE FROM router_state WHERE key = ?", (key,)).rowcount > 0


def states_with_prefix(conn: Conn, prefix: str) -> dict[str, str]:
    """Every key starting with `prefix` (exactly: LIKE folds ASCII case on SQLite only)."""
    rows = conn.execute(
        "SELECT key, value FROM router_state WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def heartbeat(
    conn: Conn,
    name: str,
    *,
    version: str = "",
    started_at: str | None = None,
    info: dict[str, Any] | None = None,
) -> None:
    """Record that daemon `name` (this process, by its `liveness.me()` identity) is alive now."""
    validate.short_text(name, "name", allow_empty=False)
    now = now_iso()
    owner = me()
    with tx(conn):
        conn.execute(
            HEARTBEAT_SQL,
            (
                name,
                owner.pid,
                owner.host,
                owner.start,
                owner.instance,
                version,
                started_at or now,
                now,
                json.dumps(info or {}),
            ),
        )


def daemon_stopped(conn: Conn, name: str) -> None:
    """Record a clean stop of daemon `name` by this process (not by a newer instance)."""
    with tx(conn):
        conn.execute(
            "UPDATE daemons SET stopped_at = ? WHERE name = ? AND instance = ?",
            (now_iso(), name, me().instance),
        )


def list_daemons(conn: Conn) -> list[Daemon]:
    return [
        Daemon(
            name=r["name"],
            pid=r["pid"],
            host=r["host"],
            version=r["version"],
            started_at=r["started_at"],
            heartbeat_at=r["heartbeat_at"],
            stopped_at=r["stopped_at"],
            info=json.loads(r["info"] or "{}"),
            pid_start=r["pid_start"],
            instance=r["instance"],
        )
        for r in conn.execute("SELECT * FROM daemons ORDER BY name")
    ]
