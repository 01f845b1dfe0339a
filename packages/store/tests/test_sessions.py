"""Agent sessions and queued system messages (the session log: test_runs.py)."""

from __future__ import annotations

import sqlite3

import pytest
import store


def test_session_is_set_replaced_and_deleted_per_topic(db: sqlite3.Connection) -> None:
    assert store.get_session(db, "demo") is None
    store.set_session(db, "demo", "", "s-1")
    store.set_session(db, "demo", "billing", "s-2")
    store.set_session(db, "demo", "", "s-3")
    assert store.get_session(db, "demo") == "s-3"
    assert store.get_session(db, "demo", "billing") == "s-2"
    assert {r["topic"] for r in store.list_sessions(db)} == {"", "billing"}
    assert store.list_sessions(db, folders=["other"]) == []
    assert store.delete_session(db, "demo") is True
    assert store.delete_session(db, "demo") is False
    assert store.get_session(db, "demo") is None
    assert store.get_session(db, "demo", "billing") == "s-2"


@pytest.mark.parametrize(
    ("folder", "topic", "session_id", "field"),
    [
        ("../x", "", "s", "group_folder"),
        ("demo", "a\nb", "s", "topic"),
        ("demo", "", "", "session_id"),
    ],
)
def test_bad_session_is_rejected(
    db: sqlite3.Connection, folder: str, topic: str, session_id: str, field: str
) -> None:
    with pytest.raises(store.InvalidInput) as err:
        store.set_session(db, folder, topic, session_id)
    assert err.value.field == field
    assert store.list_sessions(db) == []


def test_system_messages_are_flushed_once_in_order(db: sqlite3.Connection) -> None:
    a = store.add_system_message(db, "demo", "gated", "delivery_dead", "could not deliver")
    b = store.add_system_message(db, "demo", "timed", "task_missed", "missed 2 runs")
    store.add_system_message(db, "other", "gated", "x", "y")
    assert [m.id for m in store.pending_system_messages(db, "demo")] == [a, b]
    flushed = store.flush_sys_msgs(db, "demo")
    assert [(m.id, m.origin, m.event) for m in flushed] == [
        (a, "gated", "delivery_dead"),
        (b, "timed", "task_missed"),
    ]
    assert flushed[0].body == "could not deliver"
    assert store.flush_sys_msgs(db, "demo") == []
    assert len(store.pending_system_messages(db, "other")) == 1


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("../x", "gated", "e", "body"), "group_folder"),
        (("demo", "", "e", "body"), "origin"),
        (("demo", "gated", "", "body"), "event"),
        (("demo", "gated", "e", " "), "body"),
    ],
)
def test_bad_system_message_is_rejected(
    db: sqlite3.Connection, args: tuple[str, str, str, str], field: str
) -> None:
    with pytest.raises(store.InvalidInput) as err:
        store.add_system_message(db, *args)
    assert err.value.field == field
    assert db.execute("SELECT COUNT(*) FROM system_messages").fetchone()[0] == 0
