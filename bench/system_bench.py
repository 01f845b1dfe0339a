"""Whole-system benchmark: four daemons on one db, 100 chats of inbound load through an HTTP
adapter with the echo agent; then the same under contention (timed firing ~1k tasks/min, dashd
page loads), and the per-message store cost at growing table sizes. Writes results/system.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import store

RESULTS = Path(__file__).parent / "results" / "system.json"
BIN = Path(sys.executable).parent
DAEMONS = ("gated", "timed", "onbod", "dashd")
SECRET = "system-bench-secret"
TICKER_AGENT = (
    """sh -c 'cat >/dev/null; echo "{\\"type\\": \\"result\\", \\"status\\": \\"ok\\"}"'"""
)
BACKLOG_SQL = "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'failed', 'sending')"
FIRED_SQL = "SELECT COUNT(*) FROM task_runs WHERE status = 'fired'"
LOCKED_WORDS = ("database is locked", "database is busy", "sqlite_busy")
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = {
    "reply_p99_ms": 2000.0,
    "lost": 0,
    "duplicated": 0,
    "locked_errors": 0,
    "growth_ratio": 1.5,
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def serve_adapter(record: Path, port_file: Path) -> None:
    """The adapter process: appends `<monotonic time>\t<reply text as JSON>` per /send body
    (CLOCK_MONOTONIC is system-wide, so the bench process can compare it with its own)."""
    lock = threading.Lock()
    out = record.open("a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            self._reply({"status": "ok"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            with lock:
                out.write(f"{time.monotonic()}\t{json.dumps(body.get('text', ''))}\n")
            self._reply({"remote_id": f"r{time.monotonic_ns()}"})

        def _reply(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_file.with_suffix(".tmp").write_text(str(server.server_address[1]))
    port_file.with_suffix(".tmp").replace(port_file)
    server.serve_forever()


class Receiver:
    """The adapter, as its own process (like a real one): when each reply text arrived."""

    def __init__(self, root: Path) -> None:
        self.record = root / "adapter.tsv"
        self.record.touch()
        port_file = root / "adapter.port"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--adapter", str(self.record), str(port_file)],
            stdin=subprocess.DEVNULL,
        )
        port = wait(lambda: port_file.exists() and port_file.read_text(), 10, "adapter port")
        self.url = f"http://127.0.0.1:{port}"

    def arrivals(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for line in self.record.read_text().splitlines():
            when, _, text = line.partition("\t")
            if text:
                out.setdefault(json.loads(text), []).append(float(when))
        return out

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@dataclass
class System:
    """Four daemon processes on one database under `root`."""

    root: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.db = self.root / "messages.db"
        self.gated_port, self.dashd_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "SWITCHBOARD_DB": str(self.db),
            "SWITCHBOARD_LISTEN": f"127.0.0.1:{self.gated_port}",
            "SWITCHBOARD_DASHD_LISTEN": f"127.0.0.1:{self.dashd_port}",
            "SWITCHBOARD_CHANNEL_SECRET": SECRET,
        }
        self.env.pop("NOTIFY_SOCKET", None)

    def start(self) -> None:
        for name in DAEMONS:
            with (self.root / f"{name}.log").open("ab") as log:
                self.procs[name] = subprocess.Popen(
                    [str(BIN / name), "--db", str(self.db)],
                    env=self.env,
                    cwd=self.root,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        for name, proc in self.procs.items():
            wait(lambda name=name, proc=proc: self._beating(name, proc), 60, f"{name} heartbeat")

    def _beating(self, name: str, proc: subprocess.Popen[bytes]) -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited {proc.returncode}: {self.log(name)[-2000:]}")
        try:
            conn = store.connect(self.db, readonly=True)
            try:
                row = conn.execute("SELECT pid FROM daemons WHERE name = ?", (name,)).fetchone()
            finally:
                conn.close()
        except sqlite3.OperationalError:
            return False
        return bool(row and row[0] == proc.pid)

    def stop(self) -> dict[str, int | None]:
        for proc in self.procs.values():
            proc.terminate()
        codes: dict[str, int | None] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = None
        return codes

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def cpu_s(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
        return out

    def rss_mb(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[name] = round(int(line.split()[1]) / 1024, 1)
        return out


def setup(system: System, chats: int, receiver: Receiver, ticker_tasks: int) -> str:
    """Register the channel, the chats' groups and the ticker tasks; the channel token."""
    resp = httpx.post(
        f"http://127.0.0.1:{system.gated_port}/v1/channels/register",
        headers={"Authorization": f"Bearer {SECRET}"},
        json={"name": "bench", "url": receiver.url, "jid_prefixes": []},
        timeout=10,
    )
    resp.raise_for_status()
    conn = store.open(system.db)
    try:
        for i in range(chats):
            store.register_group(conn, f"bench:c{i}", f"c{i}")
        if ticker_tasks:
            from timed.api import add_task

            for i in range(5):
                store.register_group(
                    conn, f"web:tick{i}", f"tick{i}", agent_config={"command": TICKER_AGENT}
                )
            for i in range(ticker_tasks):
                add_task(conn, chat_jid=f"web:tick{i % 5}", prompt=f"t{i}", cron="* * * * * *")
    finally:
        conn.close()
    return str(resp.json()["token"])


class Dashboard(threading.Thread):
    """A logged-in browser loading the status page, the chat list and a chat page in turn."""

    def __init__(self, system: System, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.system, self.stop_event = system, stop
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        import re

        base = f"http://127.0.0.1:{self.system.dashd_port}"
        with httpx.Client(base_url=base, timeout=30) as web:
            form = web.get("/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', form)
            assert token
            web.post(
                "/login",
                data={"csrf": token.group(1), "next": "/", "username": "bench", "password": PW},
            )
            pages = ["/", "/chats", "/chats/bench:c1"]
            i = 0
            while not self.stop_event.is_set():
                t0 = time.monotonic()
                resp = web.get(pages[i % len(pages)])
                self.latencies_ms.append((time.monotonic() - t0) * 1000)
                if resp.status_code != 200:
                    self.errors.append(f"{pages[i % len(pages)]} {resp.status_code}")
                i += 1
                self.stop_event.wait(0.2)


PW = "bench-password-123"


def load(
    system: System,
    token: str,
    chats: int,
    rate: float,
    seconds: float,
    sent: dict[str, float],
    rejected: list[str],
) -> None:
    """Post `rate` messages/s round-robin over the chats for `seconds`; fills `sent` (the
    expected reply text -> when its message was posted) and `rejected`."""
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    workers = 8
    interval = workers / rate

    def worker(w: int) -> None:
        n = 0
        next_at = time.monotonic()
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < stop_at:
                i = n * workers + w
                text = f"m{i}"
                t0 = time.monotonic()
                resp = client.post(
                    f"http://127.0.0.1:{system.gated_port}/v1/messages",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"chat_jid": f"bench:c{i % chats}", "id": text, "content": text},
                )
                with lock:
                    if resp.status_code == 202:
                        sent[f"echo: {text}"] = t0
                    else:
                        rejected.append(f"{resp.status_code} {resp.text[:200]}")
                n += 1
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def scenario(
    root: Path, chats: int, rate: float, seconds: float, contention: bool
) -> dict[str, Any]:
    """One run of the whole system; the figures a user cares about."""
    root.mkdir(parents=True)
    system = System(root)
    receiver = Receiver(root)
    stop = threading.Event()
    dash: Dashboard | None = None
    backlog: list[int] = []
    rss: dict[str, float] = {}
    sent: dict[str, float] = {}
    rejected: list[str] = []
    cpu0: dict[str, float] = {}
    cpu1: dict[str, float] = {}
    elapsed = float("nan")
    tick_runs = 0
    note = ""
    system.start()
    try:
        token = setup(system, chats, receiver, ticker_tasks=17 if contention else 0)
        if contention:
            from dashd.users import add_user

            conn = store.open(system.db)
            try:
                add_user(conn, "bench", PW)
            finally:
                conn.close()
            dash = Dashboard(system, stop)
            dash.start()

        def sample() -> None:
            conn = store.connect(system.db, readonly=True)
            try:
                while not stop.is_set():
                    backlog.append(int(conn.execute(BACKLOG_SQL).fetchone()[0]))
                    for k, v in system.rss_mb().items():
                        rss[k] = max(rss.get(k, 0.0), v)
                    stop.wait(0.5)
            finally:
                conn.close()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu0, t0 = system.cpu_s(), time.monotonic()
        load(system, token, chats, rate, seconds, sent, rejected)
        try:
            wait(lambda: set(sent) <= set(receiver.arrivals()), 60 + seconds, "every reply")
        except TimeoutError as exc:
            note = str(exc)
        elapsed = time.monotonic() - t0
        cpu1 = system.cpu_s()
        stop.set()
        sampler.join()
        if dash:
            dash.join()
        if contention:
            conn = store.connect(system.db, readonly=True)
            try:
                tick_runs = int(conn.execute(FIRED_SQL).fetchone()[0])
            finally:
                conn.close()
    finally:
        stop.set()
        codes = system.stop()
        receiver.close()
    arrivals = receiver.arrivals()
    lat = [(arrivals[t][0] - s) * 1000 for t, s in sent.items() if t in arrivals]
    logs = {n: system.log(n).lower() for n in DAEMONS}
    return {
        "chats": chats,
        "offered_rate_per_s": rate,
        "seconds": seconds,
        "accepted": len(sent),
        "rejected": len(rejected),
        "replies_per_s": round(len(lat) / elapsed, 1),
        "reply_p50_ms": round(pct(lat, 0.50), 1),
        "reply_p99_ms": round(pct(lat, 0.99), 1),
        "max_outbox_backlog": max(backlog, default=0),
        "lost": sum(1 for t in sent if t not in arrivals),
        "duplicated": sum(1 for t in sent if len(arrivals.get(t, [])) > 1),
        "locked_errors": sum(
            t.count("database is locked") + t.count("busy") for t in logs.values()
        ),
        "cpu_pct": {n: round(100 * (cpu1[n] - cpu0[n]) / elapsed, 1) for n in cpu1},
        "max_rss_mb": rss,
        "exit_codes": codes,
        "task_runs_fired": tick_runs,
        "dashboard_pages": len(dash.latencies_ms) if dash else 0,
        "dashboard_p95_ms": round(pct(dash.latencies_ms, 0.95), 1) if dash else None,
        "dashboard_errors": dash.errors[:5] if dash else [],
        "note": note,
    }


def fill(conn: sqlite3.Connection, upto: int, chats: int) -> None:
    """Grow `messages` to `upto` rows with plain batched inserts (the filler is not measured)."""
    have = store.latest_seq(conn)
    ts = store.now_iso()
    batch = 20_000
    while have < upto:
        n = min(batch, upto - have)
        rows = [
            (f"f{have + k}", f"grow:c{(have + k) % chats}", "u", "", f"filler {have + k}", ts)
            for k in range(n)
        ]
        with store.tx(conn):
            conn.executemany(
                "INSERT INTO messages (id, chat_jid, sender, sender_name, content, timestamp) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        have += n


def growth(root: Path, sizes: list[int], per_size: int) -> dict[str, Any]:
    """Per-message cost of the hot path (put_message, the chat read, outbox store/claim/mark) at
    each table size; flat means every query it runs uses an index."""
    conn = store.open(root / "growth.db")
    out: dict[str, Any] = {}
    try:
        for size in sizes:
            fill(conn, size, 1000)
            t0 = time.perf_counter()
            for k in range(per_size):
                one_message(conn, f"grow:c{k % 1000}", f"g{size}-{k}")
            us = (time.perf_counter() - t0) / per_size * 1e6
            out[str(size)] = round(us, 1)
    finally:
        conn.close()
    first = out[str(sizes[0])]
    return {"per_message_us": out, "ratio_last_to_first": round(out[str(sizes[-1])] / first, 2)}


def one_message(conn: sqlite3.Connection, chat: str, msg_id: str) -> None:
    """What one chat message costs the store end to end: stored, read as the agent's batch,
    the reply stored with its outbox row, claimed and marked sent."""
    put = store.put_message(conn, store.NewMessage(id=msg_id, chat_jid=chat, content="hello"))
    store.messages_since(conn, chat, put.seq - 1)
    store.store_outbound(conn, chat, "echo: hello", msg_id=f"reply:{msg_id}")
    for item in store.claim_outbound(conn, "bench:1:x", limit=1):
        store.mark_sent(conn, item.seq, "r")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="load duration per scenario")
    p.add_argument("--chats", type=int, default=100)
    p.add_argument("--rate", type=float, default=20.0, help="offered inbound messages/s")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--per-size", type=int, default=2000, help="messages timed per size")
    p.add_argument("--only", choices=["system", "contention", "capacity", "growth"])
    p.add_argument("--capacity-rate", type=float, default=100.0, help="offered rate, capacity run")
    p.add_argument("--adapter", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.adapter:
        serve_adapter(*args.adapter)
        return
    root = Path(tempfile.mkdtemp(prefix="system-bench-"))
    result: dict[str, Any] = {
        "when": store.now_iso(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "targets": TARGETS,
    }
    if args.only in (None, "system"):
        result["system"] = scenario(root / "plain", args.chats, args.rate, args.seconds, False)
        print(json.dumps({"system": result["system"]}), flush=True)
    if args.only in (None, "contention"):
        result["contention"] = scenario(root / "busy", args.chats, args.rate, args.seconds, True)
        print(json.dumps({"contention": result["contention"]}), flush=True)
    if args.only in (None, "capacity"):
        # Offered more than it can take for a short while: where the ceiling is and why.
        secs = min(args.seconds, 20.0)
        result["capacity"] = scenario(root / "cap", args.chats, args.capacity_rate, secs, False)
        print(json.dumps({"capacity": result["capacity"]}), flush=True)
    if args.only in (None, "growth"):
        result["growth"] = growth(root, args.sizes, args.per_size)
        print(json.dumps({"growth": result["growth"]}), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
