"""gated's schema: the final shape of `channels`, `email_threads`, `secrets`, `egress_counts`,
`tool_calls` and `thread_topics`, their indexes, and gated's rows in `migrations` (applied
once, however often gated starts)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from gated.main import SCHEMAS
from gated.migrations import MIGRATIONS

TABLES: dict[str, list[str]] = {
    "channels": [
        "name", "token_hash", "url", "jid_prefixes", "max_message_chars", "registered_at",
        "health", "health_checked_at", "health_error", "protocol", "send_secret", "capabilities",
    ],
    "email_threads": [
        "thread_id", "chat_jid", "subject", "last_message_id", "references", "created_at",
        "updated_at",
    ],
    "secrets": [
        "name", "upstream", "header", "format", "expose", "key_id", "sealed", "created_at",
        "updated_at",
    ],
    "egress_counts": ["folder", "host", "verdict", "n", "last_at"],
    "tool_calls": [
        "id", "run_id", "call_id", "tool", "args", "status", "error_code", "error", "result",
        "effect_key", "replay_of", "started_at", "duration_ms",
    ],
    "thread_topics": ["chat_jid", "topic", "thread_id", "created_at"],
}  # fmt: skip

# index name -> (table, columns); autoindexes of PRIMARY KEY constraints listed too.
INDEXES: dict[str, tuple[str, list[str]]] = {
    "channels_token": ("channels", ["token_hash"]),
    "sqlite_autoindex_channels_1": ("channels", ["name"]),
    "email_threads_chat": ("email_threads", ["chat_jid"]),
    "sqlite_autoindex_email_threads_1": ("email_threads", ["thread_id"]),
    "sqlite_autoindex_secrets_1": ("secrets", ["name"]),
    "sqlite_autoindex_egress_counts_1": ("egress_counts", ["folder", "host", "verdict"]),
    "tool_calls_call": ("tool_calls", ["run_id", "call_id"]),
    "tool_calls_effect": ("tool_calls", ["effect_key"]),
    "sqlite_autoindex_thread_topics_1": ("thread_topics", ["chat_jid", "topic"]),
}


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "messages.db"
    store.open(path, SCHEMAS).close()
    c = store.open(path, SCHEMAS)  # a second start applies nothing
    yield c
    c.close()


def test_tables_and_columns(conn: sqlite3.Connection) -> None:
    for table, columns in TABLES.items():
        assert [r["name"] for r in conn.execute(f"PRAGMA table_info({table})")] == columns


def test_indexes(conn: sqlite3.Connection) -> None:
    found = {
        r["name"]: (
            r["tbl_name"],
            [c["name"] for c in conn.execute(f"PRAGMA index_info({r['name']})")],
        )
        for r in conn.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name IN ('channels', 'email_threads', 'secrets', 'egress_counts', "
            "'tool_calls', 'thread_topics')"
        )
    }
    assert found == INDEXES


def test_migration_rows(conn: sqlite3.Connection) -> None:
    rows = conn.execute(
        "SELECT version, name FROM migrations WHERE service = 'gated' ORDER BY version"
    ).fetchall()
    assert [tuple(r) for r in rows] == [
        (1, "m001_channels"),
        (2, "m002_email_threads"),
        (3, "m003_secrets"),
        (4, "m004_egress_counts"),
        (5, "m005_tool_calls"),
        (6, "m006_thread_topics"),
        (7, "m007_channel_capabilities"),
    ]
    assert store.service_version(conn, "gated") == len(MIGRATIONS)


def test_gated_start_up_applies_onbod_schema_too(conn: sqlite3.Connection) -> None:
    # /approve and /reject write onbod's table, so gated's start-up applies its schema.
    assert store.service_version(conn, "onbod") >= 1
    assert conn.execute("SELECT COUNT(*) FROM onboarding").fetchone()[0] == 0


def test_gated_start_up_applies_timed_schema_too(conn: sqlite3.Connection) -> None:
    # The agents' schedule_task tool writes timed's table through timed.api.
    assert store.service_version(conn, "timed") >= 1
    assert conn.execute("SELECT COUNT(*) FROM scheduled_tasks").fetchone()[0] == 0
