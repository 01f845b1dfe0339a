"""Metrics read from the database at scrape time. `FinalRows` hands each row of an append-only
table (ids only grow) to its counter once, when the row is final, so a counter is exact across
restarts and a scrape costs only the rows new since the last one (`GroupedRows` the same, summed
in SQL, for rows final once written); `DbCollector` runs them and the gauges of a daemon under
one lock on one read-only connection."""

from __future__ import annotations

import bisect
import itertools
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable
from typing import Final

import store
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
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
            lowest_open = None
            if self.open_sql is not None:
                lowest_open = conn.execute(self.open_sql, {"after": self.frontier}).fetchone()[0]
            # Only ids past the lowest open row can be seen again (the frontier stops below it).
            remember = int(lowest_open) if lowest_open is not None else None
            while True:
                rows = conn.execute(self.final_sql, {"after": after, "limit": PAGE}).fetchall()
                for row in rows:
                    if row[0] in self.seen:
                        continue
                    fold(row)
                    counted += 1
                    if remember is not None and row[0] > remember:
                        self.seen.add(row[0])
                if rows:
                    after = top = max(top, int(rows[-1][0]))
                if len(rows) < PAGE:
                    break
        finally:
            conn.execute("COMMIT")
        self.frontier = top if remember is None else min(top, remember - 1)
        self.seen = {i for i in self.seen if i > self.frontier}
        return counted


class GroupedRows:
    """Counts of the rows past the last one counted, by label, in one aggregate query: for a
    table whose rows are final once written, counted without a histogram (SQLite sums the
    history of the first scrape far faster than a fold per row).

    `sql` takes `:after` and selects the labels, `n` (rows) and `top` (their highest id),
    grouped by the labels."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.frontier = 0

    def read(self, conn: sqlite3.Connection, fold: Fold) -> int:
        """Pass each group's row to `fold`; how many rows were counted (one statement: one
        snapshot)."""
        counted = 0
        for row in conn.execute(self.sql, {"after": self.frontier}).fetchall():
            fold(row)
            counted += int(row["n"])
            self.frontier = max(self.frontier, int(row["top"]))
        return counted


class CounterTally:
    """A counter with labels, kept as plain sums (a scrape folds thousands of rows: the
    client library's per-call locking would cost more than reading them)."""

    def __init__(self, name: str, doc: str, labels: Iterable[str] = ()) -> None:
        self.name = name
        self.doc = doc
        self.labels = list(labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, n: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + n

    def declare(self, *labels: str) -> None:
        """The series exists (at 0) before its first event, so rates start from zero."""
        self.values.setdefault(labels, 0.0)

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for labels, value in self.values.items():
            family.add_metric(list(labels), value)
        return family


class HistogramTally:
    """A histogram without labels: a count per bucket (`le` bounds) and the sum."""

    def __init__(self, name: str, doc: str, bounds: Iterable[float]) -> None:
        self.name = name
        self.doc = doc
        self.bounds = sorted(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def family(self) -> Metric:
        cumulative = list(itertools.accumulate(self.counts))
        les = [repr(float(b)) for b in self.bounds] + ["+Inf"]
        return HistogramMetricFamily(
            self.name,
            self.doc,
            buckets=list(zip(les, cumulative, strict=True)),
            sum_value=self.total,
        )


class DbCollector(Collector):
    """A daemon's metrics that come from the database: `tally` registers a `FinalRows` and
    the fold that feeds its counters, `counter`/`histogram` make what it exposes, and
    `gauges(conn)` (overridden) reads the current values. One scrape at a time."""

    def __init__(self, db: str) -> None:
        self.db = db
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._tallies: list[tuple[FinalRows | GroupedRows, Fold]] = []
        self._metrics: list[CounterTally | HistogramTally] = []

    def counter(self, name: str, doc: str, labels: Iterable[str] = ()) -> CounterTally:
        metric = CounterTally(name, doc, labels)
        self._metrics.append(metric)
        return metric

    def histogram(self, name: str, doc: str, buckets: Iterable[float]) -> HistogramTally:
        metric = HistogramTally(name, doc, buckets)
        self._metrics.append(metric)
        return metric

    def tally(self, rows: FinalRows | GroupedRows, fold: Fold) -> None:
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
            found = [metric.family() for metric in self._metrics]
            found += self.gauges(self._conn)
        return found

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
