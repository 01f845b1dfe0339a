"""gated benchmarks, each against a baseline measured in the same run.

(a) Sustained `POST /v1/messages` throughput (auth, validation, put_message) vs a bare endpoint
    in the same server process that only parses the JSON and does the same `put_message`.
(b) Latency with a real gated process and the echo agent: POST -> agent process start and
    POST -> reply at the adapter's /send, p50/p99, next to a modelled 2 s polling gateway;
    with the default bubblewrap sandbox and unconfined (`--sandbox none`), interleaved.

Run: `uv run python bench/gated_bench.py [--requests N] [--rounds R] [--samples S]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import store
from gated.migrations import MIGRATIONS
from gated.sandbox import probe_bwrap

RESULTS = Path(__file__).parent / "results" / "gated.json"
SECRET = "bench-secret"
POLL_BASELINE_S = 2.0
RUNNING_SQL = "SELECT COUNT(*) FROM session_log WHERE ended_at IS NULL"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_db(workdir: Path) -> Path:
    path = workdir / "messages.db"
    conn = store.open(path)
    store.migrate_service(conn, "gated", MIGRATIONS)
    conn.close()
    return path


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.02)


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# ---------------------------------------------------------------- (a) throughput


def serve(db: str, port: int) -> None:
    """Server process of (a): gated's channel API plus the bare endpoint, one uvicorn server."""
    import uvicorn
    from gated.channels import create_app
    from gated.config import Config
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    cfg = Config(
        db=db,
        listen_host="127.0.0.1",
        listen_port=port,
        channel_secret=SECRET,
        max_agents=4,
        agent_timeout_s=30,
        default_agent="switchboard-echo",
        health_interval_s=30,
        max_delivery_attempts=8,
        email=None,
    )
    app = create_app(cfg)
    local = threading.local()

    def put(data: dict[str, Any]) -> store.PutResult:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = store.connect(db)
        msg = store.NewMessage(
            id=data["id"], chat_jid=data["chat_jid"], content=data["content"], source="bare"
        )
        return store.put_message(conn, msg)

    async def bare(request: Request) -> JSONResponse:
        result = await run_in_threadpool(put, json.loads(await request.body()))
        return JSONResponse({"seq": result.seq, "duplicate": result.duplicate}, status_code=202)

    app.add_route("/bare/messages", bare, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def drive(url: str, headers: dict[str, str], n: int, workers: int, tag: str) -> float:
    """POST n messages from `workers` keep-alive clients; returns requests per second."""
    per = n // workers
    errors: list[str] = []

    def work(w: int) -> None:
        with httpx.Client(headers=headers, timeout=30) as client:
            for i in range(per):
                body = {
                    "chat_jid": f"bench:chat{(w * per + i) % 50}",
                    "id": f"{tag}-{w}-{i}",
                    "content": f"message {i} from worker {w}: " + "lorem ipsum dolor " * 4,
                    "sender": f"user{w}",
                }
                resp = client.post(url, json=body)
                if resp.status_code != 202:
                    errors.append(f"{resp.status_code} {resp.text[:200]}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"bench: {len(errors)} failed requests, first: {errors[0]}")
    return per * workers / elapsed


def throughput(workdir: Path, requests: int, rounds: int, workers: int) -> dict[str, Any]:
    db = fresh_db(workdir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(db), str(port)])
    try:
        wait_for(lambda: healthy(base), 30, "the bench server")
        reg = httpx.post(
            f"{base}/v1/channels/register",
            json={"name": "bench", "url": "http://127.0.0.1:9"},
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        reg.raise_for_status()
        auth = {"Authorization": f"Bearer {reg.json()['token']}"}
        drive(f"{base}/v1/messages", auth, 200, workers, "warm-api")
        drive(f"{base}/bare/messages", {}, 200, workers, "warm-bare")
        runs: dict[str, list[float]] = {"api": [], "bare": []}
        for r in range(rounds):  # interleaved, so load from other processes hits both alike
            runs["api"].append(drive(f"{base}/v1/messages", auth, requests, workers, f"a{r}"))
            runs["bare"].append(drive(f"{base}/bare/messages", {}, requests, workers, f"b{r}"))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    api, bare = statistics.median(runs["api"]), statistics.median(runs["bare"])
    return {
        "requests_per_round": requests,
        "rounds": rounds,
        "client_workers": workers,
        "req_per_s_median": {"POST /v1/messages": round(api), "bare put_message": round(bare)},
        "req_per_s_runs": {k: [round(v) for v in vs] for k, vs in runs.items()},
        "ratio": round(api / bare, 3),
        "target_ratio": 0.7,
    }


# ---------------------------------------------------------------- (b) latency


@contextmanager
def reply_catcher() -> Iterator[tuple[str, dict[str, float], threading.Condition]]:
    """An adapter in this process: records when each reply text arrives at POST /send."""
    arrived: dict[str, float] = {}
    cond = threading.Condition()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            now = time.time()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            with cond:
                arrived[body["text"]] = now
                cond.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", arrived, cond
    finally:
        server.shutdown()


@dataclass
class LatencyGated:
    """One gated of (b) with its adapter registered: posts go to `base`, replies to `arrived`."""

    name: str
    proc: subprocess.Popen[bytes]
    base: str
    auth: dict[str, str]
    starts: Path
    db: Path
    start_ms: list[float] = field(default_factory=list)
    reply_ms: list[float] = field(default_factory=list)


def start_latency_gated(
    workdir: Path,
    name: str,
    sandbox: str,
    adapter_url: str,
    stack: ExitStack,
    extra_env: dict[str, str] | None = None,
) -> LatencyGated:
    """A gated on its own db with `--sandbox <sandbox>` and one group whose agent records when
    its process started, then becomes the echo agent. The agent script and the record live in
    the group folder, so a sandboxed agent sees them (it sees nothing else of the host's)."""
    workdir.mkdir(parents=True)
    db = fresh_db(workdir)
    folder = workdir / "groups" / "bench"
    folder.mkdir(parents=True)
    starts = folder / "agent-starts.txt"
    bindir = Path(sys.executable).parent
    agent = folder / "timed-echo.sh"
    agent.write_text(f'#!/bin/sh\ndate +%s.%N >> "{starts}"\nexec "{bindir}/switchboard-echo"\n')
    agent.chmod(0o755)
    conn = store.connect(db)
    store.register_group(conn, "bench:latency", "bench", agent_config={"command": str(agent)})
    conn.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SWITCHBOARD_CHANNEL_SECRET": SECRET,
        "SWITCHBOARD_GROUPS_DIR": str(workdir / "groups"),
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        **(extra_env or {}),
    }
    log = stack.enter_context((workdir / "gated.log").open("w"))
    argv = [sys.executable, "-m", "gated.main", "--db", str(db), "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*argv, "--sandbox", sandbox], env=env, stdout=log, stderr=subprocess.STDOUT
    )

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=20)

    stack.callback(stop)
    wait_for(lambda: healthy(base), 30, f"gated ({name})")
    reg = httpx.post(
        f"{base}/v1/channels/register",
        json={"name": "bench", "url": adapter_url},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    reg.raise_for_status()
    return LatencyGated(
        name, proc, base, {"Authorization": f"Bearer {reg.json()['token']}"}, starts, db
    )


def idle(g: LatencyGated) -> bool:
    """No run of g's is still going (its agent exited, its sandbox and cgroup are gone)."""
    with sqlite3.connect(f"file:{g.db}?mode=ro", uri=True) as conn:
        running: int = conn.execute(RUNNING_SQL).fetchone()[0]
    return running == 0


def sample(
    g: LatencyGated,
    http: httpx.Client,
    i: int,
    arrived: dict[str, float],
    cond: threading.Condition,
) -> tuple[float, float] | None:
    """POST one message to g once it is idle (a chat's next message would otherwise wait for
    the previous run to end, which is not what is measured); (POST -> agent start, POST ->
    reply at the adapter) in ms."""
    wait_for(lambda: idle(g), 10, f"the {g.name} gated's previous run to end")
    text = f"{g.name} ping {i}"
    lines_before = len(g.starts.read_text().splitlines()) if g.starts.exists() else 0
    t0 = time.time()
    resp = http.post(
        f"{g.base}/v1/messages",
        json={"chat_jid": "bench:latency", "id": f"lat{i}", "content": text},
        headers=g.auth,
    )
    resp.raise_for_status()
    with cond:
        if not cond.wait_for(lambda: f"echo: {text}" in arrived, timeout=10):
            raise SystemExit(f"bench: no reply to {text!r} from the {g.name} gated")
        t_reply = arrived[f"echo: {text}"]
    new = g.starts.read_text().splitlines()[lines_before:]
    return ((float(new[0]) - t0) * 1000, (t_reply - t0) * 1000) if new else None


def figures(start_ms: list[float], reply_ms: list[float]) -> dict[str, Any]:
    return {
        "samples": len(reply_ms),
        "post_to_agent_start_ms": {
            "p50": round(percentile(start_ms, 50), 1),
            "p99": round(percentile(start_ms, 99), 1),
        },
        "post_to_reply_ms": {
            "p50": round(percentile(reply_ms, 50), 1),
            "p99": round(percentile(reply_ms, 99), 1),
        },
    }


def latency(workdir: Path, samples: int) -> dict[str, Any]:
    """Two gateds at once, the default sandbox (bubblewrap, with the default limits) and
    unconfined (`--sandbox none`, the same limits), sampled alternately (ABBA): each POST waits
    for its reply, so only one of them works at a time and load from elsewhere hits both alike.
    The top-level figures are the sandboxed gated's: how gated runs by default."""
    probe = probe_bwrap("bwrap")
    names = {"sandbox": "bwrap", "unconfined": "none"} if probe.works else {"unconfined": "none"}
    with ExitStack() as stack:
        adapter_url, arrived, cond = stack.enter_context(reply_catcher())
        http = stack.enter_context(httpx.Client(timeout=10))
        gateds = [
            start_latency_gated(workdir / name, name, sandbox, adapter_url, stack)
            for name, sandbox in names.items()
        ]
        for i in range(samples + 3):  # the first three of each warm up
            for g in gateds if i % 2 == 0 else reversed(gateds):
                got = sample(g, http, i, arrived, cond)
                if i >= 3 and got is not None:
                    g.start_ms.append(got[0])
                    g.reply_ms.append(got[1])
    variants = {g.name: figures(g.start_ms, g.reply_ms) for g in gateds}
    default = variants.get("sandbox", variants["unconfined"])
    reply_ms = next(g.reply_ms for g in gateds if g.name in ("sandbox", "unconfined"))
    rng = random.Random(7)
    # A polling gateway sees a message only at its next poll: a uniform wait in [0, 2 s).
    polled = [ms + rng.uniform(0, POLL_BASELINE_S * 1000) for ms in reply_ms]
    return {
        **default,
        "sandbox": "bubblewrap" if probe.works else f"not measured: {probe.reason}",
        "variants": variants,
        "polling_2s_baseline_reply_ms_modelled": {
            "p50": round(percentile(polled, 50), 1),
            "p99": round(percentile(polled, 99), 1),
        },
        "targets_ms": {"start_p50": 50, "reply_p50": 150, "reply_p99": 500, "sandbox_p50": 60},
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=2000, help="POSTs per round (a)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per endpoint (a)")
    p.add_argument("--workers", type=int, default=8, help="concurrent clients (a)")
    p.add_argument("--samples", type=int, default=100, help="latency samples (b)")
    p.add_argument("--only", choices=["throughput", "latency"], help="run one part")
    args = p.parse_args()
    result: dict[str, Any] = {
        "when": store.now_iso(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
    }
    # Outside /tmp, where deployments keep their data (a sandbox has a /tmp of its own).
    with tempfile.TemporaryDirectory(prefix="gated-bench-", dir="/var/tmp") as tmp:
        if args.only in (None, "throughput"):
            result["throughput"] = throughput(
                Path(tmp) / "a", args.requests, args.rounds, args.workers
            )
            t = result["throughput"]
            print("| (a) endpoint | req/s (median) |\n|---|---|")
            for name, rate in t["req_per_s_median"].items():
                print(f"| {name} | {rate} |")
            print(f"ratio API / bare = {t['ratio']} (target >= 0.7)\n")
        if args.only in (None, "latency"):
            result["latency"] = latency(Path(tmp) / "b", args.samples)
            lat = result["latency"]
            print("| (b) latency | p50 ms | p99 ms |\n|---|---|---|")
            for name in (
                "post_to_agent_start_ms",
                "post_to_reply_ms",
                "polling_2s_baseline_reply_ms_modelled",
            ):
                print(f"| {name} | {lat[name]['p50']} | {lat[name]['p99']} |")
            for variant, v in lat["variants"].items():
                reply = v["post_to_reply_ms"]
                print(f"| post_to_reply_ms, {variant} | {reply['p50']} | {reply['p99']} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
