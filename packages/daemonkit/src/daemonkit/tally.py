"""Metrics read from the database at scrape time. `FinalRows` hands each row of an append-only
table (ids only grow) to its counter once, when the row is final, so a counter is exact across
restarts and a scrape costs only the rows new since the last one; `DbCollector` runs them and
the gauges of a daemon under one lock on one read-only connection."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable
from typing import Final

import store
from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

PAGE: Final = 5000  # rows read per query (the first scrape reads the whole history)
OTHER: Final = "other"

Fold = Callable[[sqlite3.Row], None]


def bounded(value: str | None, allowed: Collection[str]) -> str:
    """`value` when it is one of `allowed`, else "other": a label never takes free text."""
    return value if value is not None and value in allowed else OTHER


class FinalRows:
    """The rows of one table that became final since the last read, each exactly once.

    `final_sql` selects final rows with `id > :after`, `ORDER BY id LIMIT :limit`, the id
    first; `open_sql` (None when every row is final once written) selects the lowest id above
    `:after` of a row not final yet, or NULL. Every id at or below `frontier` is counted; the
    ids counted above it (final rows past a still-open one) are kept in `seen`."""

    def __init__(self, final_sql: str, open_sql: str | None = None) -> None:
        self.final_sql = final_sql
        self.open_sql = open_sql
        self.frontier = 0
        self.seen: set[int] = set()

    def read(self, conn: sqlite3.Connection, fold: Fold) -> int:
        """Pass every newly final row to `fold`; how many there were. Both queries read one
        snapshot, so a row committed between them is neither skipped nor counted twice."""
        counted = 0
        top = after = self.frontier
        conn.execute("BEGIN")
        try:
            while True:
                rows = conn.execute(self.final_sql, {"after": after, "limit": PAGE}).fetchall()
                for row in rows:
                    if row[0] not in self.seen:
                        fold(row)
                        self.seen.add(row[0])
                        counted += 1
                if rows:
                    after = top = max(top, int(rows[-1][0]))
                if len(rows) < PAGE:
                    break
            lowest_open = None
            if self.open_sql is not None:
                lowest_open = conn.execute(self.open_sql, {"after": self.frontier}).fetchone()[0]
        finally:
            conn.execute("COMMIT")
        self.frontier = top if lowest_open is None else min(top, int(lowest_open) - 1)
        self.seen = {i for i in self.seen if i > self.frontier}
        return counted


class DbCollector(Collector):
    """A daemon's metrics that come from the database: `tally` registers a `FinalRows` and
    the fold that feeds its counters, `metric` a counter or histogram to expose, and
    `gauges(conn)` (overridden) reads the current values. One scrape at a time."""

    def __init__(self, db: str) -> None:
        self.db = db
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._tallies: list[tuple[FinalRows, Fold]] = []
        self._metrics: list[Counter | Histogram] = []

    def counter(self, name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
        """A counter exposed by this collector (not registered anywhere else)."""
        metric = Counter(name, doc, list(labels), registry=None)
        self._metrics.append(metric)
        return metric

    def histogram(self, name: str, doc: str, buckets: Iterable[float]) -> Histogram:
        """A histogram exposed by this collector (not registered anywhere else)."""
        metric = Histogram(name, doc, buckets=list(buckets), registry=None)
        self._metrics.append(metric)
        return metric

    def tally(self, rows: FinalRows, fold: Fold) -> None:
        self._tallies.append((rows, fold))

    def gauges(self, conn: sqlite3.Connection) -> Iterable[Metric]:
        """The metrics read afresh on every scrape; none by default."""
        return ()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if self._conn is None:
                self._conn = store.connect(self.db, readonly=True)
            for rows, fold in self._tallies:
                rows.read(self._conn, fold)
            found = [family for metric in self._metrics for family in metric.collect()]
            found += self.gauges(self._conn)
        return found

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
