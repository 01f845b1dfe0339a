"""dashd's live web chat: N open Server-Sent Events streams on one real `dashd` process (aiohttp
clients in this process), against today's alternative in the same run: N clients polling
`/web/<folder>/since` every second. For each: store -> visible latency p50/p95 (a reply stored
as gated stores it, timed until each open client has read it), dashd's CPU while idle with the
clients connected (utime+stime from /proc/<pid>/stat), and RSS per client.

Run: `uv run python bench/sse_bench.py [--streams 500] [--chats 1] [--samples 20] [--idle-s 10]`.
Targets (issue 18): SSE p95 <= 200 ms; dashd idle CPU with the streams open < 5 % of a core.
Exit status 1 when missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import store
from dashd.migrations import MIGRATIONS as DASHD
from dashd.users import add_user
from onbod.migrations import MIGRATIONS as ONBOD
from timed.migrations import MIGRATIONS as TIMED

RESULTS = Path(__file__).parent / "results" / "sse.json"
PASSWORD = "bench password"
TARGET_P95_MS = 200.0
TARGET_IDLE_CPU_PCT = 5.0
POLL_S = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
SEQ_RE = re.compile(rb'data-seq="(\d+)"')


def folder_of(i: int) -> str:
    return f"bench{i:03d}"


def build(db: Path, groups: Path, chats: int) -> None:
    conn = store.open(db)
    for name, migrations in (("dashd", DASHD), ("timed", TIMED), ("onbod", ONBOD)):
        store.migrate_service(conn, name, migrations)
    add_user(conn, "bench", PASSWORD)
    for i in range(chats):
        (groups / folder_of(i)).mkdir(parents=True, exist_ok=True)
        store.register_group(conn, f"web:{folder_of(i)}", folder_of(i), name=f"web chat {i}")
        store.store_outbound(conn, f"web:{folder_of(i)}", "hello", group_folder=folder_of(i))
    conn.close()


def start_dashd(db: Path, groups: Path) -> tuple[subprocess.Popen[bytes], str]:
    argv = [sys.executable, "-m", "dashd.main", "--db", str(db), "--listen", "127.0.0.1:0"]
    proc = subprocess.Popen(
        [*argv, "--log-level", "WARNING"],
        env={**os.environ, "SWITCHBOARD_GROUPS_DIR": str(groups)},
    )
    conn = store.connect(db)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pid, info FROM daemons WHERE name = 'dashd'").fetchone()
            if row and row["pid"] == proc.pid:
                port = json.loads(row["info"])["listen"].rsplit(":", 1)[1]
                return proc, f"http://127.0.0.1:{port}"
            time.sleep(0.05)
    finally:
        conn.close()
    proc.kill()
    raise SystemExit("dashd did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(latencies: list[float]) -> dict[str, float | int]:
    return {
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "max_ms": round(max(latencies), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "n": len(latencies),
    }


async def login(session: aiohttp.ClientSession, url: str) -> None:
    async with session.get(f"{url}/login") as r:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert csrf
    form = {"username": "bench", "password": PASSWORD, "csrf": csrf.group(1)}
    async with session.post(f"{url}/login", data=form, allow_redirects=False) as r:
        assert r.status == 303, r.status


class Clients:
    """What the clients have seen: per seq, when each client first read it."""

    def __init__(self) -> None:
        self.seen: dict[int, list[float]] = {}
        self.ready = 0
        self.errors = 0

    def saw(self, seq: int) -> None:
        self.seen.setdefault(seq, []).append(time.monotonic())


async def sse_client(
    session: aiohttp.ClientSession, url: str, folder: str, after: int, clients: Clients
) -> None:
    try:
        async with session.get(f"{url}/web/{folder}/events?after={after}") as r:
            assert r.status == 200, r.status
            clients.ready += 1
            async for line in r.content:
                if line.startswith(b"id: "):
                    clients.saw(int(line[4:]))
    except (TimeoutError, aiohttp.ClientError):
        clients.errors += 1


async def poll_client(
    session: aiohttp.ClientSession,
    url: str,
    folder: str,
    after: int,
    clients: Clients,
    offset: float,
) -> None:
    await asyncio.sleep(offset)  # spread the polls over the second, as browsers would be
    first = True
    while True:
        started = time.monotonic()
        try:
            async with session.get(f"{url}/web/{folder}/since?after={after}") as r:
                body = await r.read()
        except (TimeoutError, aiohttp.ClientError):
            clients.errors += 1
            body = b""
        if first:
            clients.ready += 1
            first = False
        for m in SEQ_RE.finditer(body):
            seq = int(m.group(1))
            clients.saw(seq)
            after = max(after, seq)
        await asyncio.sleep(max(0.0, POLL_S - (time.monotonic() - started)))


async def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def phase(kind: str, args: argparse.Namespace, db: Path, groups: Path) -> dict[str, Any]:
    """One dashd, N clients of one kind: RSS, idle CPU, then store -> visible latency."""
    proc, url = start_dashd(db, groups)
    conn = store.connect(db)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    tasks: list[asyncio.Task[None]] = []
    try:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=jar) as s:
            await login(s, url)
            async with s.get(f"{url}/web/{folder_of(0)}") as r:  # warm the page path
                assert r.status == 200
            await asyncio.sleep(1.0)  # let start-up settle before the baseline RSS
            rss_before = rss_mb(proc.pid)
            clients = Clients()
            after = store.latest_seq(conn)
            opened = time.monotonic()
            for i in range(args.streams):
                folder = folder_of(i % args.chats)
                if kind == "sse":
                    coro = sse_client(s, url, folder, after, clients)
                else:
                    coro = poll_client(s, url, folder, after, clients, POLL_S * i / args.streams)
                tasks.append(asyncio.create_task(coro))
            await wait_until(lambda: clients.ready >= args.streams, 120, f"{kind} clients")
            open_s = time.monotonic() - opened
            await asyncio.sleep(2.0)  # connections settled
            rss_after = rss_mb(proc.pid)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            await asyncio.sleep(args.idle_s)  # the measurement window, nothing stored
            idle_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
            latencies: list[float] = []
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            for n in range(args.samples):
                chat = n % args.chats
                readers = len(range(chat, args.streams, args.chats))
                stored = time.monotonic()
                seq = store.store_outbound(
                    conn, f"web:{folder_of(chat)}", f"reply {n}", group_folder=folder_of(chat)
                )
                await wait_until(
                    lambda seq=seq, readers=readers: len(clients.seen.get(seq, ())) >= readers,
                    30,
                    f"{kind} reply {n}",
                )
                latencies += [(t - stored) * 1000 for t in clients.seen[seq]]
                await asyncio.sleep(args.gap_s)  # one reply at a time, like a conversation
            busy_cpu = (cpu_seconds(proc.pid) - cpu1) / (time.monotonic() - t1) * 100
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        conn.close()
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        proc.wait(timeout=30)
    return {
        "clients": args.streams,
        "latency": summary(latencies),
        "idle_cpu_pct_of_a_core": round(idle_cpu, 2),
        "cpu_pct_while_replying": round(busy_cpu, 2),
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_with_clients": round(rss_after, 1),
        "rss_kb_per_client": round((rss_after - rss_before) * 1024 / args.streams, 1),
        "open_s": round(open_s, 2),
        "stop_s": round(time.monotonic() - stopped, 2),
        "client_errors": clients.errors,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=500, help="open clients; default 500")
    p.add_argument("--chats", type=int, default=1, help="web chats they spread over; default 1")
    p.add_argument("--samples", type=int, default=20, help="replies timed; default 20")
    p.add_argument("--gap-s", type=float, default=0.3, help="pause between replies; default 0.3")
    p.add_argument("--idle-s", type=float, default=10.0, help="idle CPU window; default 10")
    p.add_argument("--skip-polling", action="store_true", help="measure SSE only")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sse-bench-"))
    db, groups = tmp / "messages.db", tmp / "groups"
    build(db, groups, args.chats)
    results = {"sse": asyncio.run(phase("sse", args, db, groups))}
    if not args.skip_polling:
        results["polling"] = asyncio.run(phase("polling", args, db, groups))
    sse = results["sse"]
    ok = (
        sse["latency"]["p95_ms"] <= TARGET_P95_MS
        and sse["idle_cpu_pct_of_a_core"] < TARGET_IDLE_CPU_PCT
        and sse["client_errors"] == 0
    )
    report = {
        "when": store.now_iso(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "streams": args.streams,
        "chats": args.chats,
        "samples": args.samples,
        "idle_s": args.idle_s,
        "target_p95_ms": TARGET_P95_MS,
        "target_idle_cpu_pct": TARGET_IDLE_CPU_PCT,
        "ok": ok,
        **results,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        "| clients | p50 ms | p95 ms | max ms | idle CPU % core | CPU % replying "
        "| RSS KB/client | RSS MB |\n|---|---|---|---|---|---|---|---|"
    )
    for kind, r in results.items():
        lat = r["latency"]
        print(
            f"| {r['clients']} {kind} | {lat['p50_ms']} | {lat['p95_ms']} | {lat['max_ms']} "
            f"| {r['idle_cpu_pct_of_a_core']} | {r['cpu_pct_while_replying']} "
            f"| {r['rss_kb_per_client']} | {r['rss_mb_before']} → {r['rss_mb_with_clients']} |"
        )
    print(
        f"\nSSE p95 {sse['latency']['p95_ms']} ms (target ≤ {TARGET_P95_MS:g}), idle CPU "
        f"{sse['idle_cpu_pct_of_a_core']} % (target < {TARGET_IDLE_CPU_PCT:g})"
        f"; results in {RESULTS}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
