"""Scrape cost: the time of one GET /metrics on a real gated and a real timed over a database
with history (messages, delivered replies, ended runs, tool calls, task runs), cold (the first
scrape reads the whole history once) and warm (only the rows new since the last scrape); the
baseline in the same run is gated's GET /v1/health on the same server."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).parent / "results" / "metrics.json"
NOW = "2026-12-01T10:00:00.000Z"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(db: Path, messages: int, runs: int, tasks: int) -> None:
    """A database with `messages` inbound messages each answered and delivered, `runs` ended
    agent runs with two tool calls each, and `tasks` fired task slots."""
    from switchboard.schemas import open_all

    conn = open_all(db)
    conn.execute("BEGIN")
    rows = []
    for i in range(messages):
        jid = f"telegram:{i % 500}"
        rows.append((f"in{i}", jid, "hello", NOW, "telegram", 0))
        rows.append((f"out{i}", jid, "echo: hello", NOW, "agent", 1))
    conn.executemany(
        "INSERT INTO messages (id, chat_jid, content, timestamp, source, is_from_me) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute(
        "INSERT INTO outbox (seq, channel, status, next_attempt_at, sent_at) "
        "SELECT seq, 'telegram', 'sent', timestamp, timestamp FROM messages WHERE is_from_me = 1"
    )
    conn.executemany(
        "INSERT INTO session_log (group_folder, started_at, ended_at, result) VALUES (?, ?, ?, ?)",
        [(f"g{i % 20}", NOW, "2026-12-01T10:00:01.500Z", "ok") for i in range(runs)],
    )
    conn.executemany(
        "INSERT INTO tool_calls (run_id, call_id, tool, args, status, started_at, duration_ms) "
        "VALUES (?, ?, ?, '{}', 'ok', ?, 1.0)",
        [(i // 2 + 1, f"c{i}", "history", NOW) for i in range(runs * 2)],
    )
    conn.execute(
        "INSERT INTO scheduled_tasks (owner, chat_jid, group_folder, prompt, kind, interval_s, "
        "tz, status, next_run, created_at) "
        "VALUES ('bench', 'telegram:1', 'g0', 'tick', 'interval', 60, 'UTC', 'paused', ?, ?)",
        (NOW, NOW),
    )
    conn.executemany(
        "INSERT INTO task_runs (task_id, slot, fired_at, status) VALUES (1, ?, ?, 'fired')",
        [
            (f"2026-11-{1 + i // 1440:02d}T{i % 1440 // 60:02d}:{i % 60:02d}:00.000Z", NOW)
            for i in range(tasks)
        ],
    )
    # gated's scan starts past this history (it is answered already): the scrape measured is
    # not competing with a start-up scan of every message for the interpreter.
    conn.execute(
        "INSERT INTO router_state (key, value) SELECT 'gated:cursor', MAX(seq) FROM messages"
    )
    conn.execute("COMMIT")
    conn.close()


def start(name: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / name), *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_ok(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def timed_get(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    resp = client.get(url)
    took = time.perf_counter() - started
    assert resp.status_code == 200, resp.status_code
    return took * 1000


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
    }


def measure(url: str, first_url: str, health: str | None, scrapes: int) -> dict[str, Any]:
    """Cold scrape (fresh process), then warm scrapes interleaved with the baseline."""
    with httpx.Client(timeout=120) as client:
        cold = timed_get(client, first_url)
        warm, base = [], []
        for _ in range(scrapes):
            warm.append(timed_get(client, url))
            if health:
                base.append(timed_get(client, health))
        out: dict[str, Any] = {"cold_ms": round(cold, 1), "warm": summary(warm)}
        if base:
            out["health"] = summary(base)
        out["bytes"] = len(client.get(url).content)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="inbound messages")
    parser.add_argument("--runs", type=int, default=20_000, help="ended agent runs")
    parser.add_argument("--tasks", type=int, default=10_000, help="fired task slots")
    parser.add_argument("--scrapes", type=int, default=100, help="warm scrapes measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = root / "messages.db"
        built = time.perf_counter()
        fill(db, args.messages, args.runs, args.tasks)
        built_s = time.perf_counter() - built
        gated_port, timed_port = free_port(), free_port()
        env = {
            **os.environ,
            "SWITCHBOARD_DB": str(db),
            "SWITCHBOARD_LISTEN": f"127.0.0.1:{gated_port}",
            "SWITCHBOARD_TIMED_METRICS_LISTEN": f"127.0.0.1:{timed_port}",
        }
        procs = [
            start("gated", [], env, root / "gated.log"),
            start("timed", [], env, root / "timed.log"),
        ]
        try:
            gated = f"http://127.0.0.1:{gated_port}"
            wait_ok(f"{gated}/v1/health")
            result = {
                "rows": {
                    "messages": args.messages * 2,
                    "outbox_sent": args.messages,
                    "runs": args.runs,
                    "tool_calls": args.runs * 2,
                    "task_runs": args.tasks,
                },
                "fill_s": round(built_s, 1),
                "gated": measure(
                    f"{gated}/metrics", f"{gated}/metrics", f"{gated}/v1/health", args.scrapes
                ),
            }
            timed_url = f"http://127.0.0.1:{timed_port}/metrics"
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", timed_port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("timed's metrics listener did not start") from None
                    time.sleep(0.1)
            result["timed"] = measure(timed_url, timed_url, None, args.scrapes)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    g, t = result["gated"], result["timed"]
    print(f"rows: {result['rows']}")
    print(
        f"gated /metrics: cold {g['cold_ms']} ms, warm median {g['warm']['median_ms']} ms "
        f"p99 {g['warm']['p99_ms']} ms, {g['bytes']} bytes; "
        f"/v1/health median {g['health']['median_ms']} ms"
    )
    print(
        f"timed /metrics: cold {t['cold_ms']} ms, warm median {t['warm']['median_ms']} ms "
        f"p99 {t['warm']['p99_ms']} ms, {t['bytes']} bytes"
    )


if __name__ == "__main__":
    main()
