"""A worker process for the store's concurrency tests: `store_worker.py COMMAND DB [ARGS]`, DB
a file path or (write, follow, commit, migrate-core) a PostgreSQL URL.

Workers that race print `ready` and wait for `go` on stdin, so the test releases them together.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time

import store


def x_m001_things(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE x_things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")


def x_m002_seed(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO x_things (name) VALUES ('seeded once')")


X_MIGRATIONS = [x_m001_things, x_m002_seed]


def wait_for_go() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")


def migrate(path: str) -> None:
    wait_for_go()
    conn = store.open(path)
    version = store.migrate_service(conn, "x", X_MIGRATIONS)
    print(f"ok {version}")


def migrate_core(target: str) -> None:
    """Open (and so migrate) the core schema at the same moment as the others."""
    wait_for_go()
    conn = store.open_db(target)
    print(f"ok {store.schema_version()}")
    conn.close()


def write(path: str, writer: str, count: str) -> None:
    conn = store.open_db(path)
    wait_for_go()
    for i in range(int(count)):
        store.put_message(
            conn,
            store.NewMessage(id=f"{writer}-{i}", chat_jid=f"web:{writer}", content=f"hello {i}"),
        )
    print("done")


def follow(path: str, total: str) -> None:
    """Follow new_messages by seq until `total` messages were seen; print them as JSON."""
    conn = store.open_db(path)
    wait_for_go()
    seen: list[tuple[int, str]] = []
    cursor = 0
    deadline = time.monotonic() + 90
    while len(seen) < int(total) and time.monotonic() < deadline:
        batch = store.new_messages(conn, cursor, limit=200)
        for m in batch:
            seen.append((m.seq, m.id))
        if batch:
            cursor = batch[-1].seq
        else:
            store.wait_for_change(conn, 1.0)
    print(json.dumps(seen))


def claim(path: str, claimer: str) -> None:
    """Claim and mark sent until nothing is pending; print the claimed seqs as JSON."""
    conn = store.open(path)
    wait_for_go()
    claimed: list[int] = []
    while True:
        items = store.claim_outbound(conn, claimer, limit=3)
        for item in items:
            claimed.append(item.seq)
            store.mark_sent(conn, item.seq, remote_id=f"{claimer}:{item.seq}")
        if not items and store.outbox_counts(conn)["pending"] == 0:
            break
    print(json.dumps(claimed))


def commit_on_demand(path: str) -> None:
    """For each line on stdin, commit once and print the monotonic time right after COMMIT."""
    conn = store.open_db(path)
    print("ready", flush=True)
    for n, _line in enumerate(sys.stdin):
        store.set_state(conn, "tick", str(n))
        print(repr(time.monotonic()), flush=True)


def set_env(path: str, name: str, count: str) -> None:
    """Set env.<NAME>_<i> of folder `race` for i < count, one update each."""
    conn = store.open(path)
    wait_for_go()
    for i in range(int(count)):
        store.update_folder_settings(conn, "race", {f"env.{name}_{i}": str(i)}, [])
    print("done")


COMMANDS = {
    "migrate": migrate,
    "migrate-core": migrate_core,
    "write": write,
    "follow": follow,
    "claim": claim,
    "commit": commit_on_demand,
    "set-env": set_env,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
