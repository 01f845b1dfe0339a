"""Onboarding requests written as onbod leaves them, for tests of what decides them (the CLI,
dashd's queue, gated's `/approve` and the operator tools)."""

from __future__ import annotations

import sqlite3

import store


def pending_request(conn: sqlite3.Connection, jid: str, world: str) -> None:
    """A chat that named its world and waits for an operator (onbod's schema applied)."""
    with store.tx(conn):
        conn.execute(
            "INSERT INTO onboarding (jid, status, world_name, created_at) "
            "VALUES (?, 'pending', ?, '2026-12-01T00:00:00.000Z')",
            (jid, world),
        )
