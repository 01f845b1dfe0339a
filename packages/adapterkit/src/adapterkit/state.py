"""The adapter's own sqlite file (`<state-dir>/adapter.db`): `kv` (platform offsets and sync
tokens) and `sent` (the /send idempotency keys already posted, with their remote ids). The
schema is adapterkit's, applied by its migrations (recorded as service `adapterkit`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

import store
from store import execute_script
from store.migrator import Migration

STATE_FILE: Final = "adapter.db"
SENT_KEEP: Final = timedelta(days=30)  # gated gives up on a reply long before this
SERVICE: Final = "adapterkit"

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append

MIGRATIONS_TABLE_SQL: Final = """
CREATE TABLE IF NOT EXISTS migrations (
    service    TEXT NOT NULL,      -- 'adapterkit'
    version    INTEGER NOT NULL,   -- 1-based index in MIGRATIONS
    name       TEXT NOT NULL,      -- migration function name
    applied_at TEXT NOT NULL,      -- ISO-8601 UTC
    PRIMARY KEY (service, version)
)
"""


@migration
def m001_state(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- What the platform module persists: its update offset, sync token, ...
        CREATE TABLE kv (
            key        TEXT PRIMARY KEY,  -- chosen by the platform module
            value      TEXT NOT NULL,
            updated_at TEXT NOT NULL      -- ISO-8601 UTC
        );
        -- Every /send part posted to the platform, by gated's idempotency_key: a repeat
        -- answers the same remote_id and posts nothing.
        CREATE TABLE sent (
            idempotency_key TEXT PRIMARY KEY,
            chat_jid        TEXT NOT NULL,
            remote_id       TEXT,           -- the platform's message id (NULL if none)
            sent_at         TEXT NOT NULL   -- ISO-8601 UTC; rows past SENT_KEEP are pruned
        );
        -- pruning by age at start.
        CREATE INDEX sent_at ON sent (sent_at);
        """,
    )


@dataclass(frozen=True, slots=True)
class SentPart:
    idempotency_key: str
    remote_id: str | None


class SqliteState:
    """`State` on the adapter's sqlite file; one connection, used from the event loop's thread."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / STATE_FILE
        self.conn = store.connect(self.path)
        # "Durable on return" includes a power cut, not just a crash of this process.
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute(MIGRATIONS_TABLE_SQL)
        store.migrate_service(self.conn, SERVICE, MIGRATIONS)

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set(self, key: str, value: str) -> None:
        with store.tx(self.conn):
            self.conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (key, value, store.now_iso()),
            )

    def sent_part(self, idempotency_key: str) -> SentPart | None:
        """The earlier answer to this idempotency key, if the part was posted."""
        row = self.conn.execute(
            "SELECT idempotency_key, remote_id FROM sent WHERE idempotency_key = ?",
            (idempotency_key,),
        ).fetchone()
        return None if row is None else SentPart(row["idempotency_key"], row["remote_id"])

    def record_sent(self, idempotency_key: str, chat_jid: str, remote_id: str | None) -> None:
        with store.tx(self.conn):
            self.conn.execute(
                "INSERT OR IGNORE INTO sent (idempotency_key, chat_jid, remote_id, sent_at) "
                "VALUES (?, ?, ?, ?)",
                (idempotency_key, chat_jid, remote_id, store.now_iso()),
            )

    def prune_sent(self) -> int:
        """Forget idempotency keys older than SENT_KEEP; how many."""
        cutoff = store.iso(store.utcnow() - SENT_KEEP)
        with store.tx(self.conn):
            cur = self.conn.execute("DELETE FROM sent WHERE sent_at < ?", (cutoff,))
        return cur.rowcount

    def close(self) -> None:
        self.conn.close()
