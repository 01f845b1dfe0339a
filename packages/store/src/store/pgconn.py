"""A PostgreSQL connection shaped like the `sqlite3.Connection` the store uses (`store.Conn`):
psycopg 3 in autocommit (writes go through `store.tx`), the store's `?`/`:name` SQL translated
once per text, rows readable by index and by column name like `sqlite3.Row`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import RowMaker

from store.dbapi import Params
from store.placeholders import to_psycopg

CONNECT_TIMEOUT_S: Final = 10
STALE_PLAN: Final = "cached plan must not change result type"


class PgRow:
    """One result row: `row[0]`, `row["seq"]`, `row.keys()`, iteration and `len` as
    `sqlite3.Row` offers them (the column map is shared by every row of a result)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: Mapping[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PgRow):
            return tuple(self._values) == tuple(other._values) and self.keys() == other.keys()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))!r})"


def pg_row(cursor: psycopg.Cursor[Any]) -> RowMaker[PgRow]:
    """psycopg's row factory for PgRow: the column map is built once per result, when its
    first row is read (BEGIN, COMMIT and most writes have none)."""
    index: dict[str, int] = {}

    def make(values: Sequence[Any]) -> PgRow:
        if not index:
            index.update((column.name, i) for i, column in enumerate(cursor.description or ()))
        return PgRow(values, index)

    return make


class PgCursor:
    """The result of one `PgConnection.execute`."""

    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.Cursor[PgRow]) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return None  # PostgreSQL has none: the store says RETURNING

    def fetchone(self) -> PgRow | None:
        return self._cur.fetchone()

    def fetchall(self) -> list[PgRow]:
        return self._cur.fetchall()

    def __iter__(self) -> Iterator[PgRow]:
        return iter(self._cur)


class PgConnection:
    """`store.Conn` on PostgreSQL. Outside a transaction each statement commits on its own (as
    sqlite3 with `isolation_level=None`); `store.tx` sends BEGIN and COMMIT. One per thread."""

    def __init__(self, raw: psycopg.Connection[PgRow]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Params = (), /) -> PgCursor:
        """Run one statement (or, without parameters, a script of several).

        psycopg prepares a statement run often; when another process then changes the columns
        of a table it reads (a migration on another host), the prepared plan fails with "cached
        plan must not change result type". Outside a transaction the plans are dropped and the
        statement runs again, once; inside one the error ends the transaction, whose ROLLBACK
        drops them (psycopg clears its cache on ROLLBACK), so the caller's next try succeeds.
        """
        try:
            return self._execute(sql, parameters)
        except psycopg.errors.FeatureNotSupported as exc:
            if STALE_PLAN not in str(exc) or self.in_transaction:
                raise
            self.raw.execute("DEALLOCATE ALL")  # psycopg forgets its prepared names too
            return self._execute(sql, parameters)

    def _execute(self, sql: str, parameters: Params) -> PgCursor:
        cur = self.raw.cursor()
        if parameters:
            cur.execute(to_psycopg(sql), parameters)
        else:
            cur.execute(sql)  # no parameters: psycopg reads no placeholders, `%` stays `%`
        return PgCursor(cur)

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> PgCursor:
        """Run one statement for each set of values (psycopg pipelines them)."""
        cur = self.raw.cursor()
        cur.executemany(to_psycopg(sql), list(parameters))
        return PgCursor(cur)

    def executemany_returning(
        self, sql: str, parameters: Iterable[Params], /
    ) -> list[PgRow | None]:
        """`executemany` of a statement with RETURNING: the first row each execution returned
        (None for none), in order."""
        cur = self.raw.cursor()
        cur.executemany(to_psycopg(sql), list(parameters), returning=True)
        rows = [cur.fetchone()]
        while cur.nextset():
            rows.append(cur.fetchone())
        return rows

    @property
    def in_transaction(self) -> bool:
        status = self.raw.info.transaction_status
        return status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self.raw.close()


def connect_pg(url: str) -> PgConnection:
    """A PgConnection to the database of `url` (a libpq URL)."""
    raw = psycopg.connect(
        url, autocommit=True, row_factory=pg_row, connect_timeout=CONNECT_TIMEOUT_S
    )
    return PgConnection(raw)
