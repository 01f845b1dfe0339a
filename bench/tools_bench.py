"""The agent's tools, each against a baseline measured in the same run.

(a) Tool call round trip, client → unix socket → gated's tool service (in its own process) →
    store → answer, p50/p99, for `send_message` and `history`, interleaved with a bare
    `store.store_outbound` on the same database (what the call does, without the socket).
(b) "Schedule at now+1s → reply": real gated and timed; an agent calls `schedule_task(at=now+1s)`
    and answers the task message when timed fires it; lateness = reply stored - `at`, p50/p99.

Run: `uv run python bench/tools_bench.py [--calls N] [--reminders R]`.
Targets (issue 16): send_message p50 ≤ 5 ms; reminder lateness p99 ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import store
from gated.agents.tool_client import ToolClient
from gated.main import SCHEMAS

RESULTS = Path(__file__).parent / "results" / "tools.json"
TARGET_SEND_P50_MS = 5.0
TARGET_LATENESS_P99_S = 1.5

# The tool service of one run, in its own process (as in gated): prints socket and token.
SERVE = """
import sys, threading
from pathlib import Path
from gated.tools import ToolService
from gated.tools.context import RunIdentity
db, directory = sys.argv[1], Path(sys.argv[2])
service = ToolService(db, directory)
run = service.open_run(RunIdentity(1, "chat:web:bench", "bench", "web:bench", "", 1), directory)
print(run.socket_path, run.token, flush=True)
sys.stdin.read()
service.close_run(run)
"""

# The reminder agent: a chat message makes it schedule a task 1 s ahead; the task message
# (when timed fires it) makes it answer "fired".
REMINDER_AGENT = """
import json, sys
from datetime import UTC, datetime, timedelta
from gated.agents.tool_client import ToolClient
request = json.loads(sys.stdin.readline())
for msg in request["messages"]:
    if msg.get("verb") == "task":
        print(json.dumps({"type": "message", "text": "fired " + msg["content"]}), flush=True)
    else:
        at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        client = ToolClient()
        answer = client.call("schedule_task", {"prompt": at, "at": at})
        client.close()
        assert answer["ok"], answer
print(json.dumps({"type": "result", "status": "ok"}), flush=True)
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": pct(values, 0.5), "p99": pct(values, 0.99), "n": len(values)}


def round_trips(work: Path, calls: int) -> dict[str, Any]:
    db = work / "messages.db"
    conn = store.open(db, SCHEMAS)
    store.register_group(conn, "web:bench", "bench")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(db), str(work)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdin is not None
    path, token = server.stdout.readline().split()
    client = ToolClient(path, token)
    times: dict[str, list[float]] = {"send_message": [], "history": [], "bare store_outbound": []}

    def send(i: int) -> None:
        answer = client.call("send_message", {"text": f"tool {i}"})
        assert answer["ok"], answer

    def history(_i: int) -> None:
        answer = client.call("history", {"limit": 50})
        assert answer["ok"], answer

    def bare(i: int) -> None:
        store.store_outbound(conn, "web:bench", f"bare {i}", group_folder="bench", source="tool")

    variants: dict[str, Callable[[int], None]] = {
        "send_message": send,
        "history": history,
        "bare store_outbound": bare,
    }
    for i in range(-20, calls):  # the first 20 warm up
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            started = time.perf_counter()
            variants[name](i)
            if i >= 0:
                times[name].append((time.perf_counter() - started) * 1000)
    client.close()
    server.stdin.close()
    server.wait(timeout=10)
    conn.close()
    return {name: summary(v) for name, v in times.items()}


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.01)


def reminders(work: Path, count: int) -> dict[str, Any]:
    db = work / "reminders.db"
    conn = store.open(db, SCHEMAS)
    agent = work / "reminder_agent.py"
    agent.write_text(REMINDER_AGENT)
    store.register_group(
        conn, "web:remind", "remind", agent_config={"command": f"{sys.executable} {agent}"}
    )
    env = {**os.environ, "SWITCHBOARD_CHANNEL_SECRET": "bench", "SWITCHBOARD_SANDBOX": "none"}
    logs = [(work / f"{d}.log").open("wb") for d in ("gated", "timed")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", f"{name}.main", "--db", str(db), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        for name, extra, log in (
            ("gated", ["--listen", "127.0.0.1:0"], logs[0]),
            ("timed", [], logs[1]),
        )
    ]
    lateness: list[float] = []
    try:
        wait_for(
            lambda: conn.execute("SELECT COUNT(*) FROM daemons").fetchone()[0] >= 2, 30, "daemons"
        )
        for i in range(count):
            before = fired(conn)
            store.put_message(
                conn, store.NewMessage(id=f"r{i}", chat_jid="web:remind", content="remind me")
            )
            wait_for(lambda b=before: fired(conn) > b, 30, f"reminder {i}")
            row = conn.execute(
                "SELECT content, timestamp FROM messages WHERE chat_jid = 'web:remind' "
                "AND is_from_me = 1 ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            at = datetime.fromisoformat(row[0].removeprefix("fired "))
            stored = datetime.fromisoformat(row[1].replace("Z", "+00:00"))
            lateness.append((stored - at).total_seconds())
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
        for log in logs:
            log.close()
        conn.close()
    return {"lateness_s": summary(lateness), "samples": lateness}


def fired(conn: Any) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM messages WHERE chat_jid = 'web:remind' AND is_from_me = 1 "
        "AND content LIKE 'fired %'"
    ).fetchone()
    return int(row[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--reminders", type=int, default=20)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        trips = round_trips(Path(tmp), args.calls)
        late = reminders(Path(tmp), args.reminders)
    result = {
        "round_trip_ms": trips,
        "target_send_p50_ms": TARGET_SEND_P50_MS,
        "reminder": late,
        "target_lateness_p99_s": TARGET_LATENESS_P99_S,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
