"""The adapter's state file: its schema and migration rows, key/value durability across a
reopen, idempotency keys recorded once and pruned by age."""

from __future__ import annotations

from pathlib import Path

import store
from adapterkit.state import SqliteState


def test_schema_and_migration_rows(tmp_path: Path) -> None:
    state = SqliteState(tmp_path)
    tables = {
        r["name"] for r in state.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert tables == {"migrations", "kv", "sent"}
    rows = [tuple(r) for r in state.conn.execute("SELECT service, version, name FROM migrations")]
    assert rows == [("adapterkit", 1, "m001_state")]
    state.close()
    again = SqliteState(tmp_path)  # migrating twice applies nothing
    assert again.conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == 1
    again.close()


def test_values_survive_a_reopen_and_the_last_write_wins(tmp_path: Path) -> None:
    state = SqliteState(tmp_path)
    assert state.get("telegram.offset") is None
    state.set("telegram.offset", "10")
    state.set("telegram.offset", "11")
    state.close()
    assert SqliteState(tmp_path).get("telegram.offset") == "11"


def test_sent_keys_are_kept_once_and_pruned_by_age(tmp_path: Path) -> None:
    state = SqliteState(tmp_path)
    state.record_sent("out:1:1", "tg:1", "100")
    state.record_sent("out:1:1", "tg:1", "999")  # a second record never replaces the first
    found = state.sent_part("out:1:1")
    assert found is not None
    assert found.remote_id == "100"
    with store.tx(state.conn):
        state.conn.execute("UPDATE sent SET sent_at = '2020-01-01T00:00:00.000Z'")
    state.record_sent("out:2:1", "tg:1", None)
    assert state.prune_sent() == 1
    assert state.sent_part("out:1:1") is None
    assert state.sent_part("out:2:1") is not None
