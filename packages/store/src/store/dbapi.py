"""The connection every store function takes: `Conn`, the part of `sqlite3.Connection` the store
uses, which `store.pgconn.PgConnection` (PostgreSQL) provides too; and `dialect(conn)`, the
one question a store function asks when its SQL differs between the two."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal, Protocol, TypeVar

# Values of a query: positional for `?`, a mapping for `:name`.
Params = Sequence[Any] | Mapping[str, Any]
Dialect = Literal["sqlite", "postgresql"]
SQLITE: Final[Dialect] = "sqlite"
POSTGRESQL: Final[Dialect] = "postgresql"


class Row(Protocol):
    """A result row: by index, by column name, and its column names."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What `Conn.execute` returns. Rows read by index and by column name (`sqlite3.Row`,
    `store.pgconn.PgRow`). `lastrowid` is None on PostgreSQL: use `RETURNING` there."""

    @property
    def rowcount(self) -> int: ...
    @property
    def lastrowid(self) -> int | None: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """A store connection: autocommit outside `store.tx`, `?`/`:name` parameters."""

    def execute(self, sql: str, parameters: Params = ..., /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Params], /) -> Cursor: ...
    @property
    def in_transaction(self) -> bool: ...
    def close(self) -> None: ...


AnyConn = TypeVar("AnyConn", bound=Conn)


def dialect(conn: Conn) -> Dialect:
    """Which SQL `conn` speaks."""
    return SQLITE if isinstance(conn, sqlite3.Connection) else POSTGRESQL


def is_postgres(conn: Conn) -> bool:
    """True for a PostgreSQL connection."""
    return not isinstance(conn, sqlite3.Connection)
