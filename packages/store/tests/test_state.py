"""router_state (get/set/compare-and-set), daemon heartbeats, the group folder paths and the
time helpers."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import store
from store.paths import group_path, groups_dir
from testkit.postgres_fixture import BOTH_BACKENDS


@BOTH_BACKENDS
def test_state_set_get_and_prefix(db: store.Conn) -> None:
    assert store.get_state(db, "cursor:web:demo") is None
    assert store.get_state(db, "cursor:web:demo", "0") == "0"
    store.set_state(db, "cursor:web:demo", "10")
    store.set_state(db, "cursor:web:demo", "11")
    store.set_state(db, "cursor_x", "not matched by the prefix below")
    store.set_state(db, "imap:uid", "77")
    assert store.get_state(db, "cursor:web:demo") == "11"
    assert store.states_with_prefix(db, "cursor:") == {"cursor:web:demo": "11"}
    assert store.states_with_prefix(db, "cursor_") == {
        "cursor_x": "not matched by the prefix below"
    }


@BOTH_BACKENDS
def test_cas_state_sets_only_from_the_expected_value(db: store.Conn) -> None:
    assert store.cas_state(db, "k", None, "1") is True
    assert store.cas_state(db, "k", None, "2") is False  # already present
    assert store.cas_state(db, "k", "0", "2") is False  # wrong expectation
    assert store.cas_state(db, "k", "1", "2") is True
    assert store.get_state(db, "k") == "2"


@BOTH_BACKENDS
@pytest.mark.parametrize("key", ["", "a\nb", "x" * 513])
def test_bad_state_key_is_rejected(db: store.Conn, key: str) -> None:
    with pytest.raises(store.InvalidInput, match="key"):
        store.set_state(db, key, "v")
    with pytest.raises(store.InvalidInput, match="key"):
        store.cas_state(db, key, None, "v")
    assert db.execute("SELECT COUNT(*) FROM router_state").fetchone()[0] == 0


@BOTH_BACKENDS
def test_heartbeat_and_clean_stop_are_recorded(db: store.Conn) -> None:
    store.heartbeat(db, "gated", version="1.2", info={"queue": 3})
    [d] = store.list_daemons(db)
    assert (d.name, d.pid, d.version, d.info, d.stopped_at) == ("gated", os.getpid(), "1.2",
                                                                 {"queue": 3}, None)  # fmt: skip
    assert d.started_at == d.heartbeat_at
    store.daemon_stopped(db, "gated")
    [d] = store.list_daemons(db)
    assert d.stopped_at is not None
    store.heartbeat(db, "gated", started_at="2026-01-01T00:00:00.000Z")
    [d] = store.list_daemons(db)
    assert d.stopped_at is None
    assert d.started_at == "2026-01-01T00:00:00.000Z"


def test_heartbeat_needs_a_daemon_name(db: sqlite3.Connection) -> None:
    with pytest.raises(store.InvalidInput, match="name"):
        store.heartbeat(db, "")
    assert store.list_daemons(db) == []


def test_groups_live_beside_the_database(
    db_path: Path, db: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWITCHBOARD_GROUPS_DIR", raising=False)
    assert groups_dir(db) == db_path.parent / "groups"
    path = group_path(db, "demo", create=True)
    assert path == db_path.parent / "groups" / "demo"
    assert path.is_dir()
    monkeypatch.setenv("SWITCHBOARD_GROUPS_DIR", str(db_path.parent / "elsewhere"))
    assert group_path(db, "demo") == db_path.parent / "elsewhere" / "demo"


def test_group_path_refuses_to_escape(db: sqlite3.Connection) -> None:
    with pytest.raises(store.InvalidInput, match="folder"):
        group_path(db, "../../etc")


def test_time_helpers_round_trip_in_utc() -> None:
    dt = datetime(2026, 11, 23, 6, 54, 53, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert store.iso(dt) == "2026-11-23T05:54:53.123Z"
    assert store.parse_iso("2026-11-23T05:54:53.123Z") == datetime(
        2026, 11, 23, 5, 54, 53, 123000, tzinfo=UTC
    )
    assert store.parse_iso(store.now_iso()).tzinfo is not None
    assert store.utcnow().tzinfo is not None


def test_time_helpers_refuse_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        store.iso(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="without timezone"):
        store.parse_iso("2026-01-01T00:00:00")


def test_resolve_db_path_flag_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_DB", "/srv/sb.db")
    assert store.resolve_db_path("x.db") == Path("x.db")
    assert store.resolve_db_path(None) == Path("/srv/sb.db")
    monkeypatch.delenv("SWITCHBOARD_DB")
    assert store.resolve_db_path(None) == Path("data/messages.db")


@BOTH_BACKENDS
def test_tx_rolls_back_on_error_and_joins_an_open_transaction(db: store.Conn) -> None:
    def fail_inside_tx() -> None:
        with store.tx(db):
            store.set_state(db, "a", "1")  # joins the outer transaction
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside_tx()
    assert store.get_state(db, "a") is None
    with store.tx(db):
        store.set_state(db, "a", "1")
        store.set_state(db, "b", "2")
    assert store.states_with_prefix(db, "") == {"a": "1", "b": "2"}


@BOTH_BACKENDS
def test_a_nested_tx_is_a_savepoint_the_caller_may_survive(db: store.Conn) -> None:
    def inner_part() -> None:
        with store.tx(db):
            store.set_state(db, "inner", "1")
            raise RuntimeError("inner part fails")

    with store.tx(db):
        store.set_state(db, "outer", "1")
        with pytest.raises(RuntimeError):
            inner_part()
        with store.tx(db):
            store.set_state(db, "second", "1")
        assert db.in_transaction
    assert store.states_with_prefix(db, "") == {"outer": "1", "second": "1"}


@BOTH_BACKENDS
def test_an_outer_failure_undoes_the_released_inner_parts_too(db: store.Conn) -> None:
    def outer() -> None:
        with store.tx(db):
            with store.tx(db):
                store.set_state(db, "inner", "1")
            raise RuntimeError("outer fails")

    with pytest.raises(RuntimeError):
        outer()
    assert store.get_state(db, "inner") is None


def test_execute_script_rejects_an_incomplete_statement(db: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="incomplete SQL"), store.tx(db):
        store.execute_script(db, "CREATE TABLE t (a INTEGER); CREATE TABLE u (")
    assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 't'").fetchone() is None


def test_readonly_connection_reads_but_cannot_write(db_path: Path, db: sqlite3.Connection) -> None:
    store.set_state(db, "k", "v")
    ro = store.connect(db_path, readonly=True)
    try:
        assert store.get_state(ro, "k") == "v"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.set_state(ro, "k", "w")
    finally:
        ro.close()
    assert store.get_state(db, "k") == "v"


@BOTH_BACKENDS
def test_a_cursor_only_moves_forward(db: store.Conn) -> None:
    assert store.advance_cursor(db, "agent_cursor:web:a", 5) is True  # absent: set
    assert store.advance_cursor(db, "agent_cursor:web:a", 3) is False
    assert store.advance_cursor(db, "agent_cursor:web:a", 5) is False
    assert store.get_state(db, "agent_cursor:web:a") == "5"
    assert store.advance_cursor(db, "agent_cursor:web:a", 9) is True
    assert store.get_state(db, "agent_cursor:web:a") == "9"


@BOTH_BACKENDS
def test_racing_cursor_advances_end_at_the_highest_seq(db: store.Conn, db_target: str) -> None:
    conns = [store.open_db(db_target) for _ in range(4)]
    moved: list[int] = []

    def advance(conn: store.Conn, seqs: list[int]) -> None:
        for seq in seqs:
            if store.advance_cursor(conn, "gated:cursor", seq):
                moved.append(seq)

    plans = [list(range(n, 400, 4)) for n in range(4)]
    for plan in plans:
        random.Random(len(plan)).shuffle(plan)
    threads = [threading.Thread(target=advance, args=a) for a in zip(conns, plans, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for conn in conns:
        conn.close()
    assert store.get_state(db, "gated:cursor") == "399"
    assert 399 in moved
