"""`store.ThreadConnections`: one connection per thread, all closed by `close()`."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import store


def test_each_thread_gets_its_own_connection_and_close_closes_all(tmp_path: Path) -> None:
    store.open(tmp_path / "m.db").close()
    conns = store.ThreadConnections(tmp_path / "m.db")
    mine = conns.get()
    assert conns.get() is mine
    theirs: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: theirs.append(conns.get()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    conns.close()
    for conn in (mine, theirs[0]):
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    again = conns.get()
    assert again is not mine
    assert again.execute("SELECT 1").fetchone()[0] == 1
    conns.close()


def test_the_connection_of_an_ended_thread_is_closed_when_another_opens(tmp_path: Path) -> None:
    store.open(tmp_path / "m.db").close()
    conns = store.ThreadConnections(tmp_path / "m.db")
    ended: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: ended.append(conns.get()))
    thread.start()
    thread.join()
    conns.get()
    with pytest.raises(sqlite3.ProgrammingError):
        ended[0].execute("SELECT 1")
    conns.close()


def test_read_only_connections_cannot_write(tmp_path: Path) -> None:
    store.open(tmp_path / "m.db").close()
    conns = store.ThreadConnections(tmp_path / "m.db", readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conns.get().execute("CREATE TABLE x (y)")
    conns.close()
