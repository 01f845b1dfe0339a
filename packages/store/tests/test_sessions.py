"""Agent sessions, the session log and queued system messages."""

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


def test_session_log_records_a_run_from_start_to_end(db: sqlite3.Connection) -> None:
    run = store.log_session_start(db, "demo", "", "web:demo", None)
    [open_run] = store.session_runs(db, running_only=True)
    assert (open_run.id, open_run.ended_at, open_run.result) == (run, None, None)
    store.log_session_end(db, run, "error", session_id="s-9", error="agent crashed")
    [done] = store.session_runs(db, group_folder="demo")
    assert (done.result, done.error, done.session_id) == ("error", "agent crashed", "s-9")
    assert done.ended_at is not None
    assert store.session_runs(db, running_only=True) == []
    assert [r.id for r in store.session_runs(db, errors_only=True)] == [run]


def test_session_runs_page_newest_first(db: sqlite3.Connection) -> None:
    ids = [store.log_session_start(db, f"g{i % 2}", "", None, None) for i in range(5)]
    assert [r.id for r in store.session_runs(db)] == ids[::-1]
    assert [r.id for r in store.session_runs(db, before_id=ids[3], limit=2)] == [ids[2], ids[1]]
    assert [r.id for r in store.session_runs(db, folders=["g1"])] == [ids[3], ids[1]]
    store.log_session_end(db, ids[0], "ok")
    assert ids[0] not in [r.id for r in store.session_runs(db, errors_only=True)]


def test_abandoned_runs_are_closed_as_killed(db: sqlite3.Connection) -> None:
    a = store.log_session_start(db, "demo", "", None, None)
    b = store.log_session_start(db, "demo", "t", None, None)
    store.log_session_end(db, b, "ok")
    assert store.close_abandoned_runs(db) == 1
    [run] = [r for r in store.session_runs(db) if r.id == a]
    assert (run.result, run.error) == ("killed", "gateway restarted")
    assert store.close_abandoned_runs(db) == 0


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("../x", "", None, None), "group_folder"),
        (("demo", "\x00", None, None), "topic"),
        (("demo", "", "not a jid", None), "chat_jid"),
    ],
)
def test_bad_session_log_start_is_rejected(
    db: sqlite3.Connection, args: tuple[str, str, str | None, str | None], field: str
) -> None:
    with pytest.raises(store.InvalidInput) as err:
        store.log_session_start(db, *args)
    assert err.value.field == field
    assert store.session_runs(db) == []


def test_session_log_end_needs_a_result(db: sqlite3.Connection) -> None:
    run = store.log_session_start(db, "demo", "", None, None)
    with pytest.raises(store.InvalidInput, match="result"):
        store.log_session_end(db, run, "")
    [still_open] = store.session_runs(db, running_only=True)
    assert still_open.id == run


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
