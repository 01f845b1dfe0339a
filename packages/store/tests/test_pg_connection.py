"""The PostgreSQL connection (`store.pgconn`): the store's SQL and rows as on SQLite, autocommit
outside `store.tx`, and a change notification only from a transaction that wrote."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import store
from store.pgconn import PgConnection, PgRow
from store.pgnames import CHANGES_CHANNEL


@pytest.fixture
def pg(pg_migrated_url: str) -> Iterator[PgConnection]:
    conn = store.open_db(pg_migrated_url)
    assert isinstance(conn, PgConnection)
    yield conn
    conn.close()


def test_rows_read_by_index_and_by_name_like_sqlite_rows(pg: PgConnection) -> None:
    store.set_state(pg, "k", "v")
    row = pg.execute("SELECT key, value FROM router_state WHERE key = ?", ("k",)).fetchone()
    assert isinstance(row, PgRow)
    assert (row[0], row["value"], row.keys(), list(row), len(row)) == (
        "k", "v", ["key", "value"], ["k", "v"], 2,
    )  # fmt: skip
    key, value = row
    assert (key, value) == ("k", "v")
    assert dict(zip(row.keys(), row, strict=True)) == {"key": "k", "value": "v"}


def test_named_and_positional_parameters_beside_literal_percent_and_casts(
    pg: PgConnection,
) -> None:
    pg.execute("INSERT INTO router_state (key, value) VALUES (:k, :v)", {"k": "a%?", "v": "1"})
    row = pg.execute(
        "SELECT value::bigint + ?, '50%?' FROM router_state WHERE key LIKE 'a%' AND key = ?",
        (1, "a%?"),
    ).fetchone()
    assert tuple(row) == (2, "50%?")


def test_executemany_and_rowcount(pg: PgConnection) -> None:
    cur = pg.executemany(
        "INSERT INTO router_state (key, value) VALUES (?, ?)", [("a", "1"), ("b", "2")]
    )
    assert cur.rowcount == 2
    assert cur.lastrowid is None  # PostgreSQL has none: the store uses RETURNING
    assert pg.execute("UPDATE router_state SET value = 'x'").rowcount == 2


def test_outside_tx_each_statement_commits_and_tx_is_one_transaction(
    pg: PgConnection, pg_migrated_url: str
) -> None:
    other = store.open_db(pg_migrated_url)
    store.set_state(pg, "auto", "1")
    assert not pg.in_transaction
    assert store.get_state(other, "auto") == "1"
    with store.tx(pg):
        store.set_state(pg, "inside", "1")
        assert pg.in_transaction
        assert store.get_state(other, "inside") is None  # not committed yet
    assert store.get_state(other, "inside") == "1"
    other.close()


def test_only_a_transaction_that_wrote_notifies(pg: PgConnection, pg_migrated_url: str) -> None:
    listener = store.open_db(pg_migrated_url)
    assert isinstance(listener, PgConnection)
    listener.execute(f"LISTEN {CHANGES_CHANNEL}")
    with store.tx(pg):
        store.get_state(pg, "nothing")
    assert list(listener.raw.notifies(timeout=0.2)) == []
    with store.tx(pg):
        for i in range(5):
            store.set_state(pg, f"k{i}", "v")
    assert len(list(listener.raw.notifies(timeout=0.5))) == 1  # one per transaction
    listener.close()


def test_an_sqlite_entry_point_refuses_a_url_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for opener in (store.connect, store.open):
        with pytest.raises(store.UnsupportedDatabase, match=r"store\.connect_db"):
            opener("postgresql://sb:pw@127.0.0.1:1/x")
    assert os.listdir(tmp_path) == []


def test_put_message_notifies_when_it_stores_and_not_for_a_duplicate(
    pg: PgConnection, pg_migrated_url: str
) -> None:
    listener = store.open_db(pg_migrated_url)
    assert isinstance(listener, PgConnection)
    listener.execute(f"LISTEN {CHANGES_CHANNEL}")
    new = store.NewMessage(id="m1", chat_jid="web:demo", content="hello")
    store.put_message(pg, new)
    assert len(list(listener.raw.notifies(timeout=0.5))) == 1
    assert store.put_message(pg, new).duplicate
    assert list(listener.raw.notifies(timeout=0.2)) == []
    listener.close()


def test_reads_go_on_after_another_process_adds_a_column(
    pg: PgConnection, pg_migrated_url: str
) -> None:
    """A migration on another host must not break a running daemon's prepared reads."""
    store.put_message(pg, store.NewMessage(id="m1", chat_jid="web:demo", content="hello"))
    for _ in range(7):  # psycopg prepares a statement from its 5th run
        assert len(store.new_messages(pg, 0)) == 1
    other = store.open_db(pg_migrated_url)
    other.execute("ALTER TABLE messages ADD COLUMN later TEXT")
    other.close()
    assert [m.id for m in store.new_messages(pg, 0)] == ["m1"]  # outside a transaction
    for _ in range(7):
        store.new_messages(pg, 0)
    other = store.open_db(pg_migrated_url)
    other.execute("ALTER TABLE messages ADD COLUMN later_still TEXT")
    other.close()
    with pytest.raises(psycopg.errors.FeatureNotSupported), store.tx(pg):
        store.new_messages(pg, 0)  # inside one: the transaction fails and rolls back ...
    assert [m.id for m in store.new_messages(pg, 0)] == ["m1"]  # ... and the next try reads
