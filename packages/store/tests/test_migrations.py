"""Core and service migrations: the race on a brand-new file, refusing a newer schema, the
final core schema, and a database of the previous release brought up to date."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import store
from store.migrations import MIGRATIONS
from store.migrator import migrate_core

if TYPE_CHECKING:
    from conftest import Workers

CORE_TABLES: dict[str, list[str]] = {
    "migrations": ["service", "version", "name", "applied_at"],
    "messages": [
        "seq", "id", "chat_jid", "sender", "sender_name", "content", "timestamp", "verb",
        "source", "group_folder", "topic", "is_from_me", "reply_to_id", "attachments",
        "mentions_bot", "target_id", "traceparent",
    ],
    "outbox": [
        "seq", "channel", "status", "attempts", "next_attempt_at", "claimed_at", "claimed_by",
        "last_error", "sent_at", "remote_id",
    ],
    "chats": [
        "jid", "name", "channel", "is_group", "errored", "consecutive_failures",
        "last_message_at",
    ],
    "registered_groups": [
        "jid", "folder", "name", "trigger_word", "requires_trigger", "agent_config", "parent",
        "is_operator", "created_at",
    ],
    "routes": ["id", "jid", "seq", "type", "match", "target"],
    "sessions": ["group_folder", "topic", "session_id", "updated_at"],
    "session_log": [
        "id", "group_folder", "topic", "chat_jid", "session_id", "started_at", "ended_at",
        "result", "error", "work_key", "batch_end", "pid", "pid_start", "owner", "owner_since",
        "sandbox", "limit_hit", "system_messages", "input_tokens", "output_tokens", "cost_usd",
    ],
    "system_messages": ["id", "group_folder", "origin", "event", "body", "created_at"],
    "router_state": ["key", "value"],
    "daemons": [
        "name", "pid", "host", "version", "started_at", "heartbeat_at", "stopped_at", "info",
        "pid_start", "instance",
    ],
    "group_settings": ["folder", "settings", "updated_at"],
    "share_links": ["folder", "token_hash", "created_at", "frame_ancestors"],
    "audit_log": [
        "id", "at", "actor", "origin", "remote", "action", "target", "before", "after",
    ],
}  # fmt: skip

# index name -> (table, columns); autoindexes of UNIQUE/PRIMARY KEY constraints listed too.
CORE_INDEXES: dict[str, tuple[str, list[str]]] = {
    "messages_chat_seq": ("messages", ["chat_jid", "seq"]),
    "sqlite_autoindex_messages_1": ("messages", ["chat_jid", "id"]),
    "outbox_due": ("outbox", ["status", "next_attempt_at"]),
    "chats_last_message": ("chats", ["last_message_at"]),
    "sqlite_autoindex_chats_1": ("chats", ["jid"]),
    "registered_groups_folder_jid": ("registered_groups", ["folder", "jid"]),
    "registered_groups_parent": ("registered_groups", ["folder", "parent"]),
    "sqlite_autoindex_registered_groups_1": ("registered_groups", ["jid"]),
    "sqlite_autoindex_routes_1": ("routes", ["jid", "seq"]),
    "sqlite_autoindex_sessions_1": ("sessions", ["group_folder", "topic"]),
    "session_log_folder": ("session_log", ["group_folder", "id"]),
    "session_log_running": ("session_log", ["ended_at"]),
    "session_log_open_work": ("session_log", ["work_key"]),
    "session_log_spend": ("session_log", ["group_folder", "ended_at"]),
    "chats_errored": ("chats", ["jid"]),
    "system_messages_folder": ("system_messages", ["group_folder", "id"]),
    "sqlite_autoindex_router_state_1": ("router_state", ["key"]),
    "sqlite_autoindex_daemons_1": ("daemons", ["name"]),
    "sqlite_autoindex_migrations_1": ("migrations", ["service", "version"]),
    "sqlite_autoindex_group_settings_1": ("group_settings", ["folder"]),
    "sqlite_autoindex_share_links_1": ("share_links", ["folder"]),
    "sqlite_autoindex_share_links_2": ("share_links", ["token_hash"]),
    "audit_log_actor": ("audit_log", ["actor", "id"]),
    "audit_log_action": ("audit_log", ["action", "id"]),
    "audit_log_target": ("audit_log", ["target", "id"]),
    "audit_log_origin": ("audit_log", ["origin", "id"]),
}


def file_bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_final_core_schema_has_every_table_column_and_index(db: sqlite3.Connection) -> None:
    tables = {
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    assert tables == set(CORE_TABLES)
    for table, columns in CORE_TABLES.items():
        have = [r["name"] for r in db.execute(f"PRAGMA table_info({table})")]
        assert have == columns, table
    indexes = {
        r["name"]: r["tbl_name"]
        for r in db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")
    }
    assert set(indexes) == set(CORE_INDEXES)
    for name, (table, columns) in CORE_INDEXES.items():
        assert indexes[name] == table
        assert [r["name"] for r in db.execute(f"PRAGMA index_info({name})")] == columns, name


def test_core_migrations_are_recorded_once_each(db: sqlite3.Connection) -> None:
    rows = db.execute(
        "SELECT service, version, name FROM migrations ORDER BY service, version"
    ).fetchall()
    assert [tuple(r) for r in rows] == [
        ("store", 1, "m001_core"),
        ("store", 2, "m002_daemon_identity"),
        ("store", 3, "m003_group_settings"),
        ("store", 4, "m004_run_records"),
        ("store", 5, "m005_message_mentions_and_targets"),
        ("store", 6, "m006_share_links"),
        ("store", 7, "m007_usage_and_alerts"),
        ("store", 8, "m008_registered_groups_scale_indexes"),
        ("store", 9, "m009_message_trace_context"),
        ("store", 10, "m010_audit_log"),
    ]
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.schema_version() == 10
    assert store.service_version(db, "store") == 10


def test_reopening_applies_nothing(db_path: Path, db: sqlite3.Connection) -> None:
    again = store.open(db_path)
    again.close()
    assert db.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == 10


def test_pragmas_of_a_store_connection(db: sqlite3.Connection) -> None:
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.isolation_level is None


@pytest.mark.parametrize("processes", [4, 8])
def test_processes_opening_a_new_file_at_once_all_succeed(
    tmp_path: Path, workers: Workers, processes: int
) -> None:
    path = tmp_path / "race.db"
    procs = workers.start_together([["migrate", str(path)] for _ in range(processes)])
    outputs = [workers.finish(p) for p in procs]
    assert all(o.strip() == "ok 2" for o in outputs), outputs
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.schema_version()
    rows = conn.execute(
        "SELECT service, version, name FROM migrations ORDER BY service, version"
    ).fetchall()
    assert rows == [
        ("store", 1, "m001_core"),
        ("store", 2, "m002_daemon_identity"),
        ("store", 3, "m003_group_settings"),
        ("store", 4, "m004_run_records"),
        ("store", 5, "m005_message_mentions_and_targets"),
        ("store", 6, "m006_share_links"),
        ("store", 7, "m007_usage_and_alerts"),
        ("store", 8, "m008_registered_groups_scale_indexes"),
        ("store", 9, "m009_message_trace_context"),
        ("store", 10, "m010_audit_log"),
        ("x", 1, "x_m001_things"),
        ("x", 2, "x_m002_seed"),
    ]
    assert conn.execute("SELECT COUNT(*) FROM x_things").fetchone()[0] == 1
    conn.close()


def test_service_migrations_apply_in_order_and_only_once(db: sqlite3.Connection) -> None:
    calls: list[str] = []

    def s_m001(conn: sqlite3.Connection) -> None:
        calls.append("s_m001")
        conn.execute("CREATE TABLE s_items (id INTEGER PRIMARY KEY)")

    def s_m002(conn: sqlite3.Connection) -> None:
        calls.append("s_m002")
        conn.execute("ALTER TABLE s_items ADD COLUMN label TEXT")

    assert store.migrate_service(db, "svc", [s_m001]) == 1
    assert store.migrate_service(db, "svc", [s_m001, s_m002]) == 2
    assert store.migrate_service(db, "svc", [s_m001, s_m002]) == 2
    assert calls == ["s_m001", "s_m002"]
    assert store.service_version(db, "svc") == 2
    assert store.service_version(db, "nobody") == 0


def test_failing_service_migration_leaves_nothing_behind(db: sqlite3.Connection) -> None:
    def ok_m001(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (id INTEGER)")

    def bad_m002(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE broken (")

    with pytest.raises(sqlite3.OperationalError):
        store.migrate_service(db, "svc", [ok_m001, bad_m002])
    assert store.service_version(db, "svc") == 0
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_core_schema_newer_than_code_is_refused_and_untouched(
    db_path: Path, journal_mode: str
) -> None:
    conn = store.open(db_path)
    store.put_message(conn, store.NewMessage(id="1", chat_jid="web:a", content="keep me"))
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute(f"PRAGMA user_version = {store.schema_version() + 1}")
    conn.close()
    before = file_bytes(db_path)
    with pytest.raises(store.SchemaTooNew, match="newer than this code"):
        store.open(db_path)
    assert file_bytes(db_path) == before


def test_service_schema_newer_than_code_is_refused_and_untouched(db_path: Path) -> None:
    conn = store.open(db_path)
    store.migrate_service(conn, "svc", [lambda c: None, lambda c: None, lambda c: None])
    conn.close()
    before = file_bytes(db_path)
    conn = store.open(db_path)
    with pytest.raises(store.SchemaTooNew, match="svc schema version 3"):
        store.migrate_service(conn, "svc", [lambda c: None, lambda c: None])
    conn.close()
    assert file_bytes(db_path) == before


def test_open_applies_the_named_services_schemas_in_order(tmp_path: Path) -> None:
    def a_m001(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE a (x)")

    def b_m001(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE b (x)")

    path = tmp_path / "m.db"
    store.open(path, schemas={"a": [a_m001], "b": [b_m001]}).close()
    conn = store.open(path, schemas={"a": [a_m001], "b": [b_m001]})  # again: applies nothing
    rows = conn.execute(
        "SELECT service, version, name FROM migrations WHERE service != 'store' ORDER BY rowid"
    ).fetchall()
    assert [tuple(r) for r in rows] == [("a", 1, "a_m001"), ("b", 1, "b_m001")]
    conn.close()


def test_a_read_only_connection_never_migrates(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    sqlite3.connect(path).close()  # an empty file: no core schema yet
    before = path.read_bytes()
    ro = store.connect(path, readonly=True)
    assert ro.execute("PRAGMA user_version").fetchone()[0] == 0
    assert ro.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    ro.close()
    assert path.read_bytes() == before


FIXTURES = Path(__file__).with_name("fixtures")


def test_agent_config_of_the_previous_release_moves_into_folder_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """core_v2.db was made by the release before group_settings (fixtures/make_core_v2.py)."""
    path = tmp_path / "messages.db"
    shutil.copy(FIXTURES / "core_v2.db", path)
    old = sqlite3.connect(path)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 2
    groups_before = old.execute("SELECT * FROM registered_groups ORDER BY jid").fetchall()
    old.close()
    with caplog.at_level(logging.WARNING, logger="store.migrations"):
        conn = store.open(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.schema_version()

    def settings(folder: str) -> tuple[str | None, float | None, tuple[tuple[str, str], ...]]:
        s = store.folder_settings(conn, folder)
        return s.command, s.timeout_s, s.env

    assert settings("shared") == ("agent-a --fast", 30.0, (("MODE", "a"),))  # first registered
    assert settings("tie") == ("agent-tie-a", None, ())  # same created_at: the first jid
    assert settings("same") == ("agent-same", None, ())
    assert settings("legacy") == ("python3 agent.py", 45.0, (("OK", "1"),))  # list, `timeout`
    assert store.folder_settings(conn, "plain") == store.FolderSettings("plain")
    assert [r[0] for r in conn.execute("SELECT folder FROM group_settings ORDER BY folder")] == [
        "legacy", "same", "shared", "tie",
    ]  # fmt: skip
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w for w in warnings if "conflict" in w] == [
        "agent_config conflict folder=shared kept=tg:alpha (first registered) dropped=web:shared",
        "agent_config conflict folder=tie kept=web:tie-a (first registered) dropped=web:tie-b",
    ]
    assert [w for w in warnings if "conflict" not in w] == [
        "agent_config value refused, left out folder=legacy jid=web:legacy "
        "env.PATH: PATH is set by gated for every run (PATH, HOME, LANG, SWITCHBOARD_*)"
    ]
    # The per-chat rows are as they were (agent_config stays, unread), and so is the rest.
    rows = conn.execute("SELECT * FROM registered_groups ORDER BY jid").fetchall()
    assert [tuple(r) for r in rows] == groups_before
    plain = store.get_group(conn, "web:plain")
    assert plain is not None
    assert (plain.trigger_word, plain.requires_trigger) == ("@bot", True)
    assert [m.content for m in store.messages_since(conn, "web:plain", 0)] == ["hello @bot"]
    conn.close()
    again = store.open(path)
    assert again.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)
    again.close()


def test_in_flight_records_of_the_previous_release_become_open_runs(tmp_path: Path) -> None:
    """A database of schema 3 with gated's in-flight records in router_state, as a gated of
    that release leaves them: a run in flight (its row open), a chat's batch owed a re-run
    after a shutdown (its row closed), a task's record with a ':' in the topic, a garbled one."""
    path = tmp_path / "messages.db"
    conn = store.connect(path)
    migrate_core(conn, MIGRATIONS[:3])
    store.register_group(conn, "web:owed", "owed")
    carried = [{"origin": "timed", "event": "e", "body": "b", "created_at": "2026-01-01Z"}]
    with store.tx(conn):
        started = "2026-01-01T00:00:00.000Z"
        live = conn.execute(
            "INSERT INTO session_log (group_folder, topic, chat_jid, started_at) "
            "VALUES ('live', '', 'web:live', ?) RETURNING id",
            (started,),
        ).fetchone()[0]
        stopped = conn.execute(
            "INSERT INTO session_log (group_folder, topic, chat_jid, started_at, ended_at, "
            "result, error) VALUES ('owed', 't', 'web:owed', ?, ?, 'killed', "
            "'stopped (shutdown)') RETURNING id",
            (started, started),
        ).fetchone()[0]
        records = {
            "agent_inflight:web:live": {
                "last_seq": 12,
                "system_messages": carried,
                "run_id": live,
                "owner": "host:10:20:abc",
                "since": started,
                "pid": 4321,
                "pid_start": "999",
            },
            "agent_inflight:web:owed": {
                "last_seq": 30,
                "system_messages": [],
                "run_id": stopped,
                "owner": "host:11:21:def",
                "since": started,
            },
            "task_inflight:demo:daily:report": {"last_seq": 40, "system_messages": []},
            "agent_inflight:web:garbled": "{not json",
        }
        for key, record in records.items():
            text = record if isinstance(record, str) else json.dumps(record)
            conn.execute("INSERT INTO router_state (key, value) VALUES (?, ?)", (key, text))
        conn.execute("INSERT INTO router_state (key, value) VALUES ('agent_cursor:web:a', '5')")
    conn.close()

    conn = store.open(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.schema_version()
    assert [r[0] for r in conn.execute("SELECT key FROM router_state")] == ["agent_cursor:web:a"]
    running = store.open_run_of(conn, store.WorkKey.chat("web:live"))
    assert running is not None
    assert (running.id, running.batch_end, list(running.system_messages)) == (live, 12, carried)
    assert (running.owner, running.owner_since, running.pid, running.pid_start) == (
        "host:10:20:abc",
        started,
        4321,
        "999",
    )
    assert running.launched  # its agent may still run: a take-over kills it and closes the row
    owed = store.open_run_of(conn, store.WorkKey.chat("web:owed"))
    assert owed is not None
    assert (owed.group_folder, owed.topic, owed.chat_jid, owed.batch_end) == (
        "owed",
        "t",
        "web:owed",
        30,
    )
    assert (owed.owner, owed.launched) == ("host:11:21:def", False)
    task = store.open_run_of(conn, store.WorkKey.task("demo", "daily:report"))
    assert task is not None
    assert (task.group_folder, task.topic, task.chat_jid, task.owner) == (
        "demo",
        "daily:report",
        None,
        None,
    )
    assert store.open_run_of(conn, store.WorkKey.chat("web:garbled")) is None
    closed = conn.execute("SELECT result, error FROM session_log WHERE id = ?", (stopped,))
    assert tuple(closed.fetchone()) == ("killed", "stopped (shutdown)")
    conn.close()
