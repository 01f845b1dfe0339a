"""Opening the shared database with the project's pragmas, one connection per thread, and the one
write-transaction helper."""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from store.dbapi import AnyConn, Conn, is_postgres
from store.dburl import DbTarget, SqliteTarget, parse_db, sqlite_only
from store.errors import UnsupportedDatabase
from store.pgnames import CHANGES_CHANNEL

log = logging.getLogger(__name__)

DEFAULT_DB: Final = Path("data") / "messages.db"
BUSY_TIMEOUT_MS: Final = 5000
# BEGIN IMMEDIATE is retried past the busy timeout so a long burst of writers never surfaces as
# "database is locked" to a daemon; each retry is logged.
LOCK_RETRY_DEADLINE_S: Final = 60.0

# Bumped after every commit made through tx(); wait_for_change() in the same process listens.
LOCAL_COMMITS: Final = threading.Condition()
_local_commit_count = 0
_SAVEPOINTS: Final = itertools.count(1)


def resolve_db(arg: str | os.PathLike[str] | None = None) -> DbTarget:
    """The database: the argument, else SWITCHBOARD_DB, else ./data/messages.db; a URL of a
    scheme we do not support raises UnsupportedDatabase."""
    if arg:
        return parse_db(os.fspath(arg))
    env = os.environ.get("SWITCHBOARD_DB")
    return parse_db(env, "SWITCHBOARD_DB") if env else SqliteTarget(DEFAULT_DB)


def resolve_db_path(arg: str | os.PathLike[str] | None = None) -> Path:
    """The SQLite db path (`resolve_db`) of a program that runs on SQLite only so far; a
    PostgreSQL URL raises UnsupportedDatabase saying so (issue 20 ports the daemons)."""
    target = resolve_db(arg)
    if isinstance(target, SqliteTarget):
        return target.path
    raise UnsupportedDatabase("db", target.shown(), sqlite_only("this program"))


def connect(path: str | os.PathLike[str], *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with WAL, 5 s busy timeout, foreign keys, NORMAL sync, Row factory.

    Autocommit is on (`isolation_level=None`): writes go through `tx()`. Text is read as
    `--db` is (`store.parse_db`): a URL is refused here, never made a directory (open a
    PostgreSQL database with `store.connect_db`).
    """
    p = sqlite_path(path)
    if readonly:
        conn = sqlite3.connect(
            f"{p.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
    else:
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            p, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if not readonly:
        _retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def sqlite_path(path: str | os.PathLike[str]) -> Path:
    """The file an SQLite-only entry point was given; UnsupportedDatabase for a URL."""
    if not isinstance(path, str):
        return Path(path)
    target = parse_db(path)
    if isinstance(target, SqliteTarget):
        return target.path
    raise UnsupportedDatabase(
        "db", target.shown(), "is a PostgreSQL database: open it with store.connect_db"
    )


def connect_db(target: DbTarget | str, *, readonly: bool = False) -> Conn:
    """A connection to either backend: SQLite as `connect` makes it, PostgreSQL as
    `store.pgconn.connect_pg` does (`readonly` is SQLite's `?mode=ro`; PostgreSQL has roles)."""
    if isinstance(target, str):
        target = parse_db(target)
    if isinstance(target, SqliteTarget):
        return connect(target.path, readonly=readonly)
    from store.pgconn import connect_pg  # psycopg is imported only by PostgreSQL users

    return connect_pg(target.url)


class ThreadConnections:
    """Each thread its own connection to one database file (sqlite3's rule), opened with
    `connect` on the thread's first `get()`; `close()` closes them all (a later `get()` opens
    a new one). A connection whose thread has ended is closed when another thread opens one."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[tuple[threading.Thread, sqlite3.Connection]] = []

    def get(self) -> sqlite3.Connection:
        """The calling thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=self.readonly)
            self._local.conn = conn
            with self._lock:
                ended = [c for t, c in self._opened if not t.is_alive()]
                self._opened = [(t, c) for t, c in self._opened if t.is_alive()]
                self._opened.append((threading.current_thread(), conn))
            for old in ended:
                old.close()
        return conn

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            opened, self._opened = self._opened, []
            self._local = threading.local()
        for _, conn in opened:
            conn.close()


def _retry_locked(fn: object) -> None:
    """Run fn, retrying while SQLite reports the database locked/busy, until the deadline."""
    assert callable(fn)
    deadline = time.monotonic() + LOCK_RETRY_DEADLINE_S
    while True:
        try:
            fn()
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
            log.warning("database busy, retrying: %s", exc)
            time.sleep(0.05)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


@contextmanager
def tx(conn: AnyConn, *, pg_notified: bool = False) -> Iterator[AnyConn]:
    """A short write transaction, rolled back on error: on SQLite `BEGIN IMMEDIATE` ...
    `COMMIT` (writers serialised); on PostgreSQL `BEGIN` (READ COMMITTED) ... `COMMIT`, which
    also notifies `wait_for_change` listeners when the transaction wrote anything.

    Inside an open transaction it is a SAVEPOINT of it, so store functions compose into one
    caller's transaction (timed fires a task message and its run row atomically this way) and
    an inner failure undoes only the inner part: the caller may catch it and go on.

    `pg_notified`: the body's own statement notifies the changes channel whenever it writes
    (`messages.INSERT_MESSAGE_AND_CHAT_PG_SQL`), so the COMMIT goes alone: one statement less
    on the hot path. Ignored on SQLite.
    """
    if conn.in_transaction:
        with _savepoint(conn):
            yield conn
        return
    postgres = is_postgres(conn)
    if postgres:
        conn.execute("BEGIN")
    else:
        _retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute(PG_COMMIT if postgres and not pg_notified else "COMMIT")
    note_local_change()


# One round trip: a notification only from a transaction that was given an xid, i.e. wrote.
PG_COMMIT: Final = (
    f"SELECT pg_notify('{CHANGES_CHANNEL}', '') "
    "WHERE pg_current_xact_id_if_assigned() IS NOT NULL; COMMIT"
)


@contextmanager
def _savepoint(conn: Conn) -> Iterator[None]:
    name = f"sp{next(_SAVEPOINTS)}"
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # an error such as SQLITE_FULL may have ended it already
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")


def note_local_change() -> None:
    """Count a change in this process and wake its wait_for_change() callers (every tx()
    commit does; `store.wake_waiters` for news that is not a commit)."""
    global _local_commit_count
    with LOCAL_COMMITS:
        _local_commit_count += 1
        LOCAL_COMMITS.notify_all()


def local_commit_count() -> int:
    """How many tx() commits this process has made (for in-process change notification)."""
    return _local_commit_count


def execute_script(conn: Conn, sql: str) -> None:
    """Run several statements inside the current transaction.

    `sqlite3.executescript` would COMMIT first, which breaks migrations' atomicity; on
    PostgreSQL the script goes as one query (no parameters: the simple protocol runs several).
    """
    if is_postgres(conn):
        conn.execute(sql)
        return
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                conn.execute(buf)
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement: {buf.strip()[:80]!r}")
