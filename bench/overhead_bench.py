"""What observing gated costs (issue 19): two real gateds (`--sandbox none`, the echo agent) on
databases of their own. The observed one is scraped at `/metrics` every second the way
Prometheus would and traces every message (SWITCHBOARD_OTLP_ENDPOINT: its spans exported to a
stand-in OTLP collector in this process, testkit.otlp, which decodes them as a collector does);
the plain one is never scraped and has tracing off. Messages are posted to them alternately
(ABBA), each waiting for its reply. Reported: post -> reply p50/p99 of each, each gated's CPU
(utime + stime from /proc) over the run, and the spans the collector received (five per
message). Targets: the observed gated's reply p50 within 2 ms and its CPU within 5 % of the
plain one's.

Run: `uv run python bench/overhead_bench.py [--samples 200] [--scrape-s 1]`. Exit status 1 when
a target is missed."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import store
from gated_bench import figures, reply_catcher, sample, start_latency_gated
from testkit.otlp import OtlpReceiver

RESULTS = Path(__file__).parent / "results" / "overhead.json"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def scraper(url: str, every_s: float, stop: threading.Event, took: list[float]) -> None:
    """GET url every `every_s` seconds until stopped; each scrape's time in ms into `took`."""
    with httpx.Client(timeout=30) as http:
        while not stop.wait(every_s):
            resp = http.get(url)
            resp.raise_for_status()
            took.append(resp.elapsed.total_seconds() * 1000)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=200, help="messages per gated; default 200")
    p.add_argument("--scrape-s", type=float, default=1.0, help="scrape interval; default 1")
    args = p.parse_args()
    scrapes: list[float] = []
    stop = threading.Event()
    collector = OtlpReceiver()
    tracing = {"SWITCHBOARD_OTLP_ENDPOINT": collector.url}
    with tempfile.TemporaryDirectory(prefix="sb-overhead-") as tmp, ExitStack() as stack:
        stack.callback(collector.close)
        adapter_url, arrived, cond = stack.enter_context(reply_catcher())
        http = stack.enter_context(httpx.Client(timeout=10))
        gateds = [
            start_latency_gated(Path(tmp) / name, name, "none", adapter_url, stack, env)
            for name, env in (("observed", tracing), ("plain", {}))
        ]
        watcher = threading.Thread(
            target=scraper,
            args=(f"{gateds[0].base}/metrics", args.scrape_s, stop, scrapes),
            daemon=True,
        )
        watcher.start()
        before = {g.name: cpu_s(g.proc.pid) for g in gateds}
        for i in range(args.samples + 3):  # the first three of each warm up
            for g in gateds if i % 2 == 0 else reversed(gateds):
                got = sample(g, http, i, arrived, cond)
                if i >= 3 and got is not None:
                    g.start_ms.append(got[0])
                    g.reply_ms.append(got[1])
        used = {g.name: cpu_s(g.proc.pid) - before[g.name] for g in gateds}
        stop.set()
        watcher.join(timeout=30)
    spans = collector.spans()  # gated exports every 5 s: the last batch may still be on its way
    result = {g.name: figures(g.start_ms, g.reply_ms) for g in gateds}
    p50 = {name: r["post_to_reply_ms"]["p50"] for name, r in result.items()}
    report: dict[str, Any] = {
        "when": store.now_iso(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "samples": args.samples,
        "scrape_every_s": args.scrape_s,
        "scrapes": len(scrapes),
        "scrape_ms_median": round(sorted(scrapes)[len(scrapes) // 2], 1) if scrapes else None,
        "spans_received": len(spans),
        "traces_received": len({s.trace_id for s in spans}),
        "gated": result,
        "cpu_s": {k: round(v, 2) for k, v in used.items()},
        "reply_p50_overhead_ms": round(p50["observed"] - p50["plain"], 1),
        "cpu_overhead_pct": round(100 * (used["observed"] / used["plain"] - 1), 1),
        "targets": {"reply_p50_overhead_ms": 2.0, "cpu_overhead_pct": 5.0},
    }
    ok = report["reply_p50_overhead_ms"] <= 2.0 and report["cpu_overhead_pct"] <= 5.0
    report["within_targets"] = ok
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
