"""Store write throughput on PostgreSQL: `put_message` (one per transaction) and `put_messages`
(batches) against raw psycopg inserts of the same rows, same schema, same server, in the same
run. Starts its own throw-away cluster (testkit.postgres: initdb/pg_ctl in a temp directory,
127.0.0.1 only, fsync off) and stops it at the end.

Each round gives every case a fresh database and lets the cases take turns, 250 rows at a time
(ABBA), so machine-load drift hits them alike; the median over the rounds is kept.

Run: `uv run python bench/pg_store_bench.py [--rows N] [--batch B] [--repeat R]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Protocol

import psycopg
import store
from store.messages import message_params
from store_bench import make_rows, print_ratios  # the same rows and table as for SQLite
from testkit.postgres import PostgresCluster, missing_reason

RESULTS = Path(__file__).parent / "results" / "pg_store.json"
TEMPLATE = "bench_template"
# The baseline: the plainest insert of the same 13 columns (no conflict handling, no RETURNING,
# no chats upsert, no lock, no notification) -- what a hand-written psycopg writer would do.
RAW_INSERT_SQL = """
INSERT INTO messages (id, chat_jid, sender, sender_name, content, timestamp, verb, source,
                      group_folder, topic, is_from_me, reply_to_id, attachments)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


CHUNK = 250  # rows a case writes before the next case takes its turn
Params = list[tuple[object, ...]]


def raw_params(rows: list[store.NewMessage]) -> Params:
    """The 13 values of each row, prepared outside the timing: raw gets no checks."""
    return [message_params(m)[:13] for m in rows]


class Writer(Protocol):
    """One case: writes the rows it is handed (store cases) or their prepared values (raw
    cases) into its own database."""

    def write(self, rows: list[store.NewMessage], params: Params, batch: int) -> None: ...
    def close(self) -> None: ...


class StoreSingle:
    """`store.put_message` per message."""

    def __init__(self, url: str) -> None:
        self.conn = store.open_db(url)

    def write(self, rows: list[store.NewMessage], params: Params, batch: int) -> None:
        for m in rows:
            store.put_message(self.conn, m)

    def close(self) -> None:
        self.conn.close()


class StoreBatch(StoreSingle):
    """`store.put_messages`, `batch` messages per transaction."""

    def write(self, rows: list[store.NewMessage], params: Params, batch: int) -> None:
        for i in range(0, len(rows), batch):
            store.put_messages(self.conn, rows[i : i + batch])


class RawSingle:
    """BEGIN; the plain INSERT; COMMIT, per message."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)

    def write(self, rows: list[store.NewMessage], params: Params, batch: int) -> None:
        for p in params:
            self.conn.execute("BEGIN")
            self.conn.execute(RAW_INSERT_SQL, p)
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class RawBatch(RawSingle):
    """executemany of the plain INSERT, `batch` rows per transaction."""

    def write(self, rows: list[store.NewMessage], params: Params, batch: int) -> None:
        for i in range(0, len(params), batch):
            self.conn.execute("BEGIN")
            self.conn.cursor().executemany(RAW_INSERT_SQL, params[i : i + batch])
            self.conn.execute("COMMIT")


CASES: dict[str, type[StoreSingle | RawSingle]] = {
    "store put_message (1 row/tx)": StoreSingle,
    "raw psycopg (1 row/tx)": RawSingle,
    "store put_messages (batch)": StoreBatch,
    "raw psycopg (batch)": RawBatch,
}


def run_round(
    cluster: PostgresCluster, rows: list[store.NewMessage], batch: int, tag: str
) -> dict[str, float]:
    """Rows per second of each case, each on a fresh database with the core schema, the cases
    taking turns CHUNK rows at a time (in ABBA order) so load drift hits them alike."""
    urls = {name: cluster.create_database(TEMPLATE, f"{tag}c{i}") for i, name in enumerate(CASES)}
    writers: dict[str, Writer] = {name: cls(urls[name]) for name, cls in CASES.items()}
    params = raw_params(rows)
    spent = dict.fromkeys(CASES, 0.0)
    try:
        for n, lo in enumerate(range(0, len(rows), CHUNK)):
            order = list(CASES) if n % 2 == 0 else list(reversed(CASES))
            for name in order:
                start = time.perf_counter()
                writers[name].write(rows[lo : lo + CHUNK], params[lo : lo + CHUNK], batch)
                spent[name] += time.perf_counter() - start
    finally:
        for writer in writers.values():
            writer.close()
    for name, url in urls.items():
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT COUNT(*) FROM messages").fetchone()
        assert row is not None
        assert row[0] == len(rows), f"{name}: {row[0]} rows stored, expected {len(rows)}"
        cluster.drop_database(url.rsplit("/", 1)[1])
    return {name: len(rows) / spent[name] for name in CASES}


def run(args: argparse.Namespace, cluster: PostgresCluster) -> dict[str, object]:
    store.open_db(cluster.create_database(name=TEMPLATE)).close()
    rows = make_rows(args.rows)
    runs: dict[str, list[float]] = {name: [] for name in CASES}
    for r in range(args.repeat):
        for name, value in run_round(cluster, rows, args.batch, f"r{r}").items():
            runs[name].append(value)
    median = {name: statistics.median(v) for name, v in runs.items()}
    ratios = print_ratios(median)
    with psycopg.connect(cluster.url()) as conn:
        version = conn.info.server_version
    return {
        "when": store.now_iso(),
        "python": platform.python_version(),
        "postgresql": version,
        "psycopg": psycopg.__version__,
        "rows": args.rows,
        "batch_size": args.batch,
        "chunk": CHUNK,
        "repeat": args.repeat,
        "rows_per_s_median": {k: round(v) for k, v in median.items()},
        "rows_per_s_runs": {k: [round(x) for x in v] for k, v in runs.items()},
        "ratio_single": round(ratios["single"], 3),
        "ratio_batch": round(ratios["batch"], 3),
        "target_single": 0.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000, help="rows each case writes per round")
    parser.add_argument("--batch", type=int, default=100, help="rows per batch transaction")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median kept)")
    args = parser.parse_args()
    reason = missing_reason()
    if reason is not None:
        raise SystemExit(f"pg_store_bench: {reason}")
    cluster = PostgresCluster().start()
    try:
        result = run(args, cluster)
    finally:
        cluster.stop()
    print(json.dumps(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {RESULTS}")


if __name__ == "__main__":
    main()
