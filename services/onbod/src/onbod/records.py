"""Every query on the `onboarding` table. Callers that change a row hold `store.tx(conn)`; each
status change is a compare-and-set on the status it read."""

from __future__ import annotations

import sqlite3
from typing import Any

from onbod.models import STATUSES, Onboarding, OnboardingStatus

# Parameters: jid, status, first_seq, first_message, created_at, greeted_at, prompts.
INSERT_SQL = """
INSERT INTO onboarding (jid, status, first_seq, first_message, created_at, greeted_at, prompts,
                        messages)
VALUES (?, ?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (jid) DO NOTHING
"""

# The columns set_fields() may touch (everything but the key).
UPDATABLE = frozenset(
    {
        "status",
        "world_name",
        "prompted_at",
        "first_seq",
        "first_message",
        "decided_by",
        "decided_at",
        "reason",
        "greeted_at",
        "requested_at",
        "reminded_at",
    }
)


def get(conn: sqlite3.Connection, jid: str) -> Onboarding | None:
    row = conn.execute("SELECT * FROM onboarding WHERE jid = ?", (jid,)).fetchone()
    return Onboarding.from_row(row) if row else None


def insert(
    conn: sqlite3.Connection,
    jid: str,
    status: OnboardingStatus,
    *,
    first_seq: int,
    first_message: str,
    now: str,
    greeted: bool,
) -> bool:
    """Create a chat's row; False when one already exists."""
    cur = conn.execute(
        INSERT_SQL,
        (jid, status, first_seq, first_message, now, now if greeted else None, int(greeted)),
    )
    return cur.rowcount == 1


def set_fields(
    conn: sqlite3.Connection,
    jid: str,
    expected: OnboardingStatus,
    *,
    prompted: bool = False,
    **fields: Any,
) -> bool:
    """Compare-and-set: update `fields` only while the row still has status `expected`."""
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"not an onboarding column: {sorted(unknown)}")
    sets = [f"{name} = ?" for name in fields]
    if prompted:
        sets.append("prompts = prompts + 1")
    if not sets:
        return True
    cur = conn.execute(
        f"UPDATE onboarding SET {', '.join(sets)} WHERE jid = ? AND status = ?",
        (*fields.values(), jid, expected),
    )
    return cur.rowcount == 1


def count_message(conn: sqlite3.Connection, jid: str) -> None:
    conn.execute("UPDATE onboarding SET messages = messages + 1 WHERE jid = ?", (jid,))


def requested_since(conn: sqlite3.Connection, since: str) -> int:
    """How many chats asked for a world (became pending) at or after `since`."""
    row = conn.execute(
        "SELECT COUNT(*) FROM onboarding WHERE requested_at >= ?", (since,)
    ).fetchone()
    return int(row[0])


def greeted_since(conn: sqlite3.Connection, since: str) -> int:
    """How many chats were greeted at or after `since`."""
    row = conn.execute("SELECT COUNT(*) FROM onboarding WHERE greeted_at >= ?", (since,)).fetchone()
    return int(row[0])


def pending_holder(conn: sqlite3.Connection, name: str) -> str | None:
    """The jid whose pending request holds world name `name`, if any."""
    row = conn.execute(
        "SELECT jid FROM onboarding WHERE world_name = ? AND status = 'pending'", (name,)
    ).fetchone()
    return row[0] if row else None


def list_rows(
    conn: sqlite3.Connection, status: OnboardingStatus | None, limit: int, *, oldest_first: bool
) -> list[Onboarding]:
    order = "ASC" if oldest_first else "DESC"
    sql = "SELECT * FROM onboarding"
    params: list[Any] = []
    if status is not None:
        sql += " WHERE status = ?"
        params.append(status)
    sql += f" ORDER BY created_at {order}, jid {order} LIMIT ?"
    params.append(limit)
    return [Onboarding.from_row(r) for r in conn.execute(sql, params)]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per status (for the heartbeat's info)."""
    return {r[0]: r[1] for r in conn.execute("SELECT status, COUNT(*) FROM onboarding GROUP BY 1")}


def status_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows of every status, zeros included, one index search each (onboarding_status)."""
    sql = "SELECT COUNT(*) FROM onboarding WHERE status = ?"
    return {s: int(conn.execute(sql, (s,)).fetchone()[0]) for s in STATUSES}
