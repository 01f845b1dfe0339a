"""onbod's schema: the final shape of `onboarding` and its rows in `migrations`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import store
from onbod import api
from onbod.main import SCHEMAS
from onbod.migrations import MIGRATIONS
from store.group_settings import stored_settings


def test_onboarding_schema_and_migration_rows(tmp_path: Path) -> None:
    store.open(tmp_path / "m.db", SCHEMAS).close()
    conn = store.open(tmp_path / "m.db", SCHEMAS)  # idempotent
    columns = [r["name"] for r in conn.execute("PRAGMA table_info(onboarding)")]
    assert columns == [
        "jid",
        "status",
        "world_name",
        "prompted_at",
        "first_seq",
        "first_message",
        "decided_by",
        "decided_at",
        "reason",
        "created_at",
        "greeted_at",
        "requested_at",
        "reminded_at",
        "prompts",
        "messages",
    ]
    indexes = {r["name"] for r in conn.execute("PRAGMA index_list(onboarding)")}
    assert {
        "onboarding_status",
        "onboarding_pending_name",
        "onboarding_requested",
        "onboarding_greeted",
    } <= indexes
    rows = conn.execute(
        "SELECT version, name FROM migrations WHERE service = 'onbod' ORDER BY version"
    ).fetchall()
    assert [tuple(r) for r in rows] == [(1, "m001_onboarding"), (2, "m002_strangers_sandboxed")]
    assert store.service_version(conn, "onbod") == len(MIGRATIONS)


def test_a_status_outside_the_list_is_refused_by_the_table(tmp_path: Path) -> None:
    conn = store.open(tmp_path / "m.db", SCHEMAS)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"), store.tx(conn):
        conn.execute(
            "INSERT INTO onboarding (jid, status, created_at) VALUES ('tg:1', 'maybe', 'x')"
        )


def test_read_functions_work_on_a_read_only_connection(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    store.open(path).close()
    ro = store.connect(path, readonly=True)
    assert api.pending(ro) == []  # onbod's schema not applied yet: nothing to show
    assert api.list_onboarding(ro) == []
    assert api.get(ro, "tg:1") is None
    writer = store.open(path, SCHEMAS)
    with store.tx(writer):
        writer.execute(
            "INSERT INTO onboarding (jid, status, world_name, created_at) "
            "VALUES ('tg:1', 'pending', 'w', '2026-11-23T00:00:00.000Z')"
        )
    assert [o.jid for o in api.pending(ro)] == ["tg:1"]
    assert [o.world_name for o in api.list_onboarding(ro, "pending")] == ["w"]


def test_strangers_groups_of_an_older_release_get_the_sandbox(tmp_path: Path) -> None:
    """A database onbod left at m001 (before folder settings): its approved strangers' groups
    now require bubblewrap; a folder whose sandbox an operator set keeps it."""
    path = tmp_path / "old.db"
    conn = store.open(path, {"onbod": MIGRATIONS[:1]})
    for jid, folder, status in [
        ("tg:1", "alice", "approved"),
        ("tg:2", "bob", "approved"),
        ("tg:3", "carol", "rejected"),
    ]:
        if status == "approved":
            store.register_group(conn, jid, folder)
        with store.tx(conn):
            conn.execute(
                "INSERT INTO onboarding (jid, status, world_name, created_at) "
                "VALUES (?, ?, ?, '2026-11-01T00:00:00.000Z')",
                (jid, status, folder),
            )
    store.register_group(conn, "web:ops", "ops")  # the operator's own group: not a stranger
    store.update_folder_settings(conn, "bob", {"sandbox": "none"}, [])
    conn.close()
    conn = store.open(path, SCHEMAS)
    assert store.folder_settings(conn, "alice").sandbox == "bwrap"
    assert store.folder_settings(conn, "bob").sandbox == "none"
    assert "sandbox" not in stored_settings(conn, "ops")
    assert "sandbox" not in stored_settings(conn, "carol")
