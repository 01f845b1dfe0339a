"""Waking up when the database changes: `PRAGMA data_version` for other connections and
processes, an in-process condition for commits made through `tx()` in this process; on
PostgreSQL `LISTEN`/`NOTIFY` instead of data_version (`store.pgnotify`)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Protocol

from store import connection
from store.dbapi import Conn

POLL_S = 0.05


class Watcher(Protocol):
    """What wait_for_change keeps per connection (ChangeWatcher, pgnotify.PgChangeWatcher)."""

    @property
    def conn(self) -> Conn: ...
    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool: ...


def data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


class ChangeWatcher:
    """Remembers what a connection last saw, so each wait returns only on a new change."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._version = data_version(conn)
        self._local = connection.local_commit_count()

    def changed(self) -> bool:
        """True (and remember it) if a commit happened since the last call."""
        version = data_version(self.conn)
        local = connection.local_commit_count()
        if version != self._version or local != self._local:
            self._version, self._local = version, local
            return True
        return False

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Block until a commit is seen or `timeout` seconds pass; True when one was seen.

        A set `stop` event ends the wait early (returns False).
        """
        return wait_until_changed(self.changed, self._pause, timeout, stop)

    def _pause(self, seconds: float) -> None:
        with connection.LOCAL_COMMITS:
            if connection.local_commit_count() == self._local:
                connection.LOCAL_COMMITS.wait(seconds)


def wait_until_changed(
    changed: Callable[[], bool],
    pause: Callable[[float], None],
    timeout: float,
    stop: threading.Event | None,
) -> bool:
    """The loop of every watcher: True as soon as `changed()` is, False once `timeout` passes
    or `stop` is set; in between `pause` for at most POLL_S (it may return early on news)."""
    deadline = time.monotonic() + timeout
    while True:
        if changed():
            return True
        left = deadline - time.monotonic()
        if left <= 0 or (stop is not None and stop.is_set()):
            return False
        pause(min(POLL_S, left))


def wake_waiters() -> None:
    """Wake this process's `wait_for_change` callers as a commit would: for news a thread hands
    over without a commit (gated's agent pool reporting a finished run through its queue)."""
    connection.note_local_change()


_watchers: dict[int, Watcher] = {}


def _is_closed(conn: Conn) -> bool:
    if isinstance(conn, sqlite3.Connection):
        try:
            conn.total_changes  # noqa: B018 -- raises once the connection is closed
        except sqlite3.ProgrammingError:
            return True
        return False
    return bool(getattr(conn, "closed", False))


def _forget_closed() -> None:
    """Drop watchers of closed connections (connections cannot be weakly referenced, so
    without this every connection ever waited on would be kept alive)."""
    for key, watcher in list(_watchers.items()):
        if _is_closed(watcher.conn):
            _watchers.pop(key, None)


def _new_watcher(conn: Conn) -> Watcher:
    if isinstance(conn, sqlite3.Connection):
        return ChangeWatcher(conn)
    from store.pgconn import PgConnection  # psycopg is imported only by PostgreSQL users
    from store.pgnotify import PgChangeWatcher

    if not isinstance(conn, PgConnection):
        raise TypeError(f"not a store connection: {type(conn).__name__}")
    return PgChangeWatcher(conn)


def wait_for_change(conn: Conn, timeout: float, stop: threading.Event | None = None) -> bool:
    """Return as soon as another connection or process commits (True), or after `timeout`.

    SQLite: checks `PRAGMA data_version` every 50 ms while sleeping on an in-process
    condition, so an idle daemon costs ~20 cheap queries a second and no busy loop.
    PostgreSQL: blocks on the connection's socket for the `NOTIFY` of a commit (it starts
    listening on the first call), looking at the in-process condition every 50 ms.
    """
    watcher = _watchers.get(id(conn))
    if watcher is None or watcher.conn is not conn:
        _forget_closed()
        watcher = _watchers[id(conn)] = _new_watcher(conn)
    return watcher.wait(timeout, stop)
