"""Store write throughput: `put_message` (one per transaction) and `put_messages` (batches)
against raw `sqlite3` inserts of the same rows, same schema, same pragmas, in the same run.

Run: `uv run python bench/store_bench.py [--rows N] [--batch B] [--repeat R]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import store
from store.messages import message_params

RESULTS = Path(__file__).parent / "results" / "store.json"
TIMESTAMP = "2026-11-23T05:54:53.123Z"
# The baseline: the plainest insert of the same 13 columns (no conflict handling, no RETURNING,
# no chats upsert) -- what a hand-written writer would do.
RAW_INSERT_SQL = """
INSERT INTO messages (id, chat_jid, sender, sender_name, content, timestamp, verb, source,
                      group_folder, topic, is_from_me, reply_to_id, attachments)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def make_rows(n: int) -> list[store.NewMessage]:
    """n messages spread over 20 chats, realistic sizes."""
    return [
        store.NewMessage(
            id=f"m{i}",
            chat_jid=f"web:chat{i % 20}",
            content=f"message number {i}: " + "lorem ipsum dolor sit amet " * 4,
            sender=f"user{i % 7}",
            sender_name=f"User {i % 7}",
            timestamp=TIMESTAMP,
            source="web",
        )
        for i in range(n)
    ]


def fresh_db(workdir: Path, name: str) -> sqlite3.Connection:
    """A new file with the full core schema and the store's pragmas."""
    return store.open(workdir / f"{name}.db")


def store_single(conn: sqlite3.Connection, rows: list[store.NewMessage], batch: int) -> float:
    start = time.perf_counter()
    for m in rows:
        store.put_message(conn, m)
    return time.perf_counter() - start


def store_batch(conn: sqlite3.Connection, rows: list[store.NewMessage], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        store.put_messages(conn, rows[i : i + batch])
    return time.perf_counter() - start


def raw_single(conn: sqlite3.Connection, rows: list[store.NewMessage], batch: int) -> float:
    # prepared outside the loop: raw gets no checks, and the 13 columns of RAW_INSERT_SQL
    params = [message_params(m)[:13] for m in rows]
    start = time.perf_counter()
    for p in params:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(RAW_INSERT_SQL, p)
        conn.execute("COMMIT")
    return time.perf_counter() - start


def raw_batch(conn: sqlite3.Connection, rows: list[store.NewMessage], batch: int) -> float:
    params = [message_params(m)[:13] for m in rows]
    start = time.perf_counter()
    for i in range(0, len(params), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(RAW_INSERT_SQL, params[i : i + batch])
        conn.execute("COMMIT")
    return time.perf_counter() - start


# A case writes all rows and returns the seconds its writing took.
Case = Callable[[sqlite3.Connection, list[store.NewMessage], int], float]
CASES: dict[str, Case] = {
    "store put_message (1 row/tx)": store_single,
    "raw sqlite3 (1 row/tx)": raw_single,
    "store put_messages (batch)": store_batch,
    "raw sqlite3 (batch)": raw_batch,
}


def measure(case: Case, rows: list[store.NewMessage], batch: int, workdir: Path, tag: str) -> float:
    """Rows per second for one case on a fresh database."""
    conn = fresh_db(workdir, tag)
    try:
        elapsed = case(conn, rows, batch)
        count = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        assert count == len(rows), f"{tag}: {count} rows stored, expected {len(rows)}"
    finally:
        conn.close()
    return len(rows) / elapsed


def print_ratios(median: dict[str, float]) -> dict[str, float]:
    """Print the table of the four cases (store first, raw second, single then batch, as in
    CASES) and return the single-row and batch ratios of store to raw."""
    single_store, single_raw, batch_store, batch_raw = median
    ratios = {
        "single": median[single_store] / median[single_raw],
        "batch": median[batch_store] / median[batch_raw],
    }
    print(f"{'case':32} {'rows/s (median)':>16} {'ratio to raw':>13}")
    for name, value in median.items():
        kind = "batch" if "batch" in name else "single"
        ratio = f"{ratios[kind]:.2f}" if name.startswith("store") else "1.00"
        print(f"{name:32} {value:16,.0f} {ratio:>13}")
    print(f"target: single-row ratio >= 0.50 -> {'met' if ratios['single'] >= 0.5 else 'MISSED'}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000, help="rows per single-row run")
    parser.add_argument("--batch", type=int, default=100, help="rows per batch transaction")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median kept)")
    args = parser.parse_args()

    rows = make_rows(args.rows)
    batch_rows = make_rows(args.rows * 4)
    runs: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # Interleave the cases so machine-load drift hits them all alike.
        for r in range(args.repeat):
            for i, (name, case) in enumerate(CASES.items()):
                data = batch_rows if "batch" in name else rows
                runs[name].append(measure(case, data, args.batch, workdir, f"r{r}c{i}"))
    median = {name: statistics.median(v) for name, v in runs.items()}
    ratios = print_ratios(median)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": store.now_iso(),
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
                "rows_single": args.rows,
                "rows_batch": args.rows * 4,
                "batch_size": args.batch,
                "repeat": args.repeat,
                "rows_per_s_median": {k: round(v) for k, v in median.items()},
                "rows_per_s_runs": {k: [round(x) for x in v] for k, v in runs.items()},
                "ratio_single": round(ratios["single"], 3),
                "ratio_batch": round(ratios["batch"], 3),
                "target_single": 0.5,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results written to {RESULTS}")


if __name__ == "__main__":
    main()
