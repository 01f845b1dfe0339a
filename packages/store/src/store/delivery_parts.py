"""Progress of a multi-part delivery in `router_state` (`delivery_parts:<seq>` = parts sent), so
a retry after a failure mid-way resumes at the first part not yet delivered."""

from __future__ import annotations

import sqlite3

from store.connection import tx
from store.state import get_state, set_state

KEY_PREFIX = "delivery_parts:"


def _key(seq: int) -> str:
    return f"{KEY_PREFIX}{seq}"


def parts_done(conn: sqlite3.Connection, seq: int) -> int:
    """How many leading parts of outbound message `seq` were already delivered."""
    value = get_state(conn, _key(seq))
    return int(value) if value and value.isdigit() else 0


def record_parts_done(conn: sqlite3.Connection, seq: int, done: int) -> None:
    set_state(conn, _key(seq), str(done))


def clear_parts(conn: sqlite3.Connection, seq: int) -> None:
    """Forget the progress of `seq` (joins the caller's transaction, e.g. with mark_sent)."""
    with tx(conn):
        conn.execute("DELETE FROM router_state WHERE key = ?", (_key(seq),))
