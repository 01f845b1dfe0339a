"""timed at scale: 10k and 100k active tasks due over a spread window, fired by a real `timed`
process. Measures firing lateness (fired_at - slot, p50/p99/max), CPU while idle, start-up
time, and -- as the in-run baseline -- the in-process firing capacity versus the rate needed.

Run: `uv run python bench/timed_bench.py [--sizes 10000 100000] [--spread 60 120]`.
Targets (issue 6): p99 lateness <= 1 s at 100k, idle CPU < 2 % of a core, start-up <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import store
from timed.firing import fire_due
from timed.migrations import MIGRATIONS

RESULTS = Path(__file__).parent / "results" / "timed.json"
LEAD_S = 10.0  # first due time after the tasks are written: room for timed to start
IDLE_WINDOW_S = 10.0
CAPACITY_TASKS = 20_000
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Parameters: chat_jid, group_folder, prompt, next_run, created_at. Interval tasks of one hour,
# so each fires exactly once inside the measured window.
INSERT_SQL = """
INSERT INTO scheduled_tasks (owner, chat_jid, group_folder, prompt, kind, interval_s, tz,
                             misfire, misfire_grace_s, context, status, next_run, created_at)
VALUES ('bench', ?, ?, ?, 'interval', 3600, 'UTC', 'run_once', 60, 'group', 'active', ?, ?)
"""


def prepare(path: Path, n: int, first: datetime, spread_s: float) -> sqlite3.Connection:
    conn = store.open(path)
    store.migrate_service(conn, "timed", MIGRATIONS)
    for i in range(20):
        store.register_group(conn, f"web:bench{i}", f"bench{i}")
    created = store.now_iso()
    rows = (
        (
            f"web:bench{i % 20}",
            f"bench{i % 20}",
            f"scheduled prompt {i}",
            store.iso(first + timedelta(seconds=spread_s * i / n)),
            created,
        )
        for i in range(n)
    )
    with store.tx(conn):
        conn.executemany(INSERT_SQL, rows)
    return conn


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_size(workdir: Path, n: int, spread_s: float) -> dict[str, Any]:
    path = workdir / f"timed-{n}.db"
    first = store.utcnow() + timedelta(seconds=LEAD_S)
    t_prep = time.perf_counter()
    conn = prepare(path, n, first, spread_s)
    prep_s = time.perf_counter() - t_prep
    if store.utcnow() > first - timedelta(seconds=5):
        raise SystemExit(f"preparing {n} tasks took {prep_s:.1f}s; raise LEAD_S")
    log = (workdir / f"timed-{n}.log").open("wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "timed.main", "--db", str(path), "--log-level", "WARNING"],
        stdout=log,
        stderr=log,
    )
    while not conn.execute(
        "SELECT 1 FROM daemons WHERE name = 'timed' AND pid = ?", (proc.pid,)
    ).fetchone():
        if proc.poll() is not None:
            raise SystemExit(f"timed exited: {(workdir / f'timed-{n}.log').read_text()}")
        time.sleep(0.01)
    startup_s = time.perf_counter() - t0
    # Idle before the first slot (nothing due yet): CPU over what is left of the lead time.
    idle_before = max(0.0, (first - store.utcnow()).total_seconds() - 1.0)
    c0, w0 = cpu_seconds(proc.pid), time.perf_counter()
    time.sleep(idle_before)
    idle_before_pct = 100 * (cpu_seconds(proc.pid) - c0) / max(1e-9, time.perf_counter() - w0)
    deadline = time.monotonic() + LEAD_S + spread_s + 120
    busy_c0 = cpu_seconds(proc.pid)
    while conn.execute("SELECT COUNT(*) FROM task_runs").fetchone()[0] < n:
        if time.monotonic() > deadline:
            raise SystemExit("not every task fired in time")
        time.sleep(0.5)
    busy_cpu_s = cpu_seconds(proc.pid) - busy_c0
    c1, w1 = cpu_seconds(proc.pid), time.perf_counter()
    time.sleep(IDLE_WINDOW_S)
    idle_after_pct = 100 * (cpu_seconds(proc.pid) - c1) / (time.perf_counter() - w1)
    proc.send_signal(signal.SIGTERM)
    exit_code = proc.wait(timeout=30)
    late = [
        (store.parse_iso(r[1]) - store.parse_iso(r[0])).total_seconds()
        for r in conn.execute("SELECT slot, fired_at FROM task_runs WHERE status = 'fired'")
    ]
    statuses = dict(conn.execute("SELECT status, COUNT(*) FROM task_runs GROUP BY status"))
    messages = conn.execute("SELECT COUNT(*) FROM messages WHERE verb = 'task'").fetchone()[0]
    conn.close()
    return {
        "tasks": n,
        "spread_s": spread_s,
        "required_rate_per_s": round(n / spread_s, 1),
        "prepare_s": round(prep_s, 2),
        "startup_s": round(startup_s, 3),
        "lateness_p50_s": round(statistics.median(late), 4),
        "lateness_p99_s": round(percentile(late, 0.99), 4),
        "lateness_max_s": round(max(late), 4),
        "idle_cpu_pct_before_first_slot": round(idle_before_pct, 2),
        "idle_cpu_pct_after_burst": round(idle_after_pct, 2),
        "cpu_s_while_firing": round(busy_cpu_s, 2),
        "run_statuses": statuses,
        "task_messages": messages,
        "exit_code": exit_code,
    }


def firing_capacity(workdir: Path) -> dict[str, Any]:
    """Baseline: fires/s of `fire_due` in-process on a backlog that is all due at once."""
    now = store.utcnow()
    conn = prepare(workdir / "capacity.db", CAPACITY_TASKS, now - timedelta(seconds=30), 20)
    start = time.perf_counter()
    fired = fire_due(conn, now, fired_by="bench")
    elapsed = time.perf_counter() - start
    conn.close()
    return {"tasks": fired, "seconds": round(elapsed, 3), "fires_per_s": round(fired / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--spread", type=float, nargs="+", default=[60.0, 120.0])
    args = parser.parse_args()
    if len(args.spread) != len(args.sizes):
        parser.error("--spread needs one value per --sizes value")
    with tempfile.TemporaryDirectory(prefix="timed-bench-") as tmp:
        workdir = Path(tmp)
        capacity = firing_capacity(workdir)
        print(f"capacity: {capacity}", flush=True)
        runs = []
        for n, spread in zip(args.sizes, args.spread, strict=True):
            result = run_size(workdir, n, spread)
            result["capacity_over_required"] = round(
                capacity["fires_per_s"] / result["required_rate_per_s"], 1
            )
            print(json.dumps(result), flush=True)
            runs.append(result)
    report = {
        "when": store.now_iso(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "baseline_firing_capacity": capacity,
        "runs": runs,
        "targets": {"lateness_p99_s": 1.0, "idle_cpu_pct": 2.0, "startup_s": 5.0},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("\n| tasks | spread | startup | p50 late | p99 late | max late | idle CPU | headroom |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['tasks']} | {r['spread_s']:.0f} s | {r['startup_s']:.2f} s "
            f"| {r['lateness_p50_s']:.3f} s | {r['lateness_p99_s']:.3f} s "
            f"| {r['lateness_max_s']:.3f} s | {r['idle_cpu_pct_after_burst']:.2f} % "
            f"| {r['capacity_over_required']}x |"
        )


if __name__ == "__main__":
    main()
