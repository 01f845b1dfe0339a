"""The charts' counts (store.activity): the window's first row found by binary search on the id
(with gaps in the ids, an empty table, a window after every row), and the counts of the rows
past an id, read by id (the query plans search by id)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import store
from store import activity

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def put(db: sqlite3.Connection, n: int, at: datetime, mine: bool = False) -> int:
    if mine:
        return store.store_outbound(db, "web:a", f"r{n}", msg_id=f"r{n}")
    return store.put_message(
        db, store.NewMessage(id=f"m{n}", chat_jid="web:a", content="x", timestamp=store.iso(at))
    ).seq


def test_the_first_row_of_a_window_is_found_through_gaps(db: sqlite3.Connection) -> None:
    assert activity.first_id_since(db, "messages", T0) == 1  # empty table
    seqs = [put(db, n, T0 + timedelta(hours=n)) for n in range(40)]
    db.execute("DELETE FROM messages WHERE seq % 3 = 0")  # gaps
    kept = [s for s in seqs if s % 3]
    for hours in (0, 1, 7, 20, 39):
        first = activity.first_id_since(db, "messages", T0 + timedelta(hours=hours))
        expect = min(s for n, s in enumerate(seqs) if n >= hours and s in kept)
        # a bound: no row of the window before it, and nothing but gaps between it and the first
        assert first <= expect
        assert all(s < first or s >= expect for s in kept)
    assert activity.first_id_since(db, "messages", T0 + timedelta(days=9)) > max(seqs)


def test_messages_per_hour_counts_received_and_sent(db: sqlite3.Connection) -> None:
    for n in range(5):
        put(db, n, T0 + timedelta(minutes=10 * n))  # 00:00 .. 00:40
    old = put(db, 99, T0 - timedelta(days=3))
    reply = put(db, 100, T0, mine=True)
    rows = db.execute(activity.HOURLY_MESSAGES_SQL, {"after": old}).fetchall()
    found = [(r["received"], r["sent"], r["n"], r["top"]) for r in rows]
    assert found == [(0, 1, 1, reply)]  # past `old`: the reply only (stored now)
    rows = db.execute(activity.HOURLY_MESSAGES_SQL, {"after": 0}).fetchall()
    assert sorted((r["hour"], r["received"], r["sent"]) for r in rows)[0] == (
        "2026-11-28T00", 1, 0)  # fmt: skip


def test_the_counts_search_by_id(db: sqlite3.Connection) -> None:
    for sql, params in (
        (activity.HOURLY_MESSAGES_SQL, {"after": 1}),
        (activity.ENDED_RUNS_SQL, {"after": 1, "limit": 10}),
    ):
        plan = db.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        assert "USING INTEGER PRIMARY KEY" in " ".join(str(r[-1]) for r in plan), sql
