"""Run every benchmark in one go (each a subprocess with a time budget), then collect each one's
figure, baseline, ratio and target into bench/results/<date>.json and bench/RESULTS.md."""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS_DIR = BENCH / "results"
TABLE = BENCH / "RESULTS.md"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table."""

    bench: str
    metric: str
    figure: str
    baseline: str
    ratio: str
    target: str
    ok: bool | None  # None: not measured


@dataclass(frozen=True, slots=True)
class Bench:
    """A benchmark script, its arguments (full and quick), its budget and how to read it."""

    name: str
    script: str
    full: list[str]
    quick: list[str]
    budget_s: float
    rows: Callable[[dict[str, Any]], list[Row]]


def _r(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".") if isinstance(x, float) else f"{x:,}"


def store_rows(d: dict[str, Any], bench: str = "store", raw: str = "raw sqlite3") -> list[Row]:
    """The store's write throughput against raw inserts by the same driver (sqlite3, or psycopg
    for the PostgreSQL backend)."""
    med = d["rows_per_s_median"]
    return [
        Row(
            bench,
            "put_message rows/s (1 row/tx)",
            _r(med["store put_message (1 row/tx)"]),
            f"{raw} {_r(med[f'{raw} (1 row/tx)'])}",
            _r(d["ratio_single"]),
            f"ratio ≥ {d['target_single']}",
            d["ratio_single"] >= d["target_single"],
        ),
        Row(
            bench,
            "put_messages rows/s (batch)",
            _r(med["store put_messages (batch)"]),
            f"{raw} {_r(med[f'{raw} (batch)'])}",
            _r(d["ratio_batch"]),
            "(informative)",
            True,
        ),
    ]


def gated_rows(d: dict[str, Any]) -> list[Row]:
    rows = []
    if "throughput" in d:
        t = d["throughput"]
        med = t["req_per_s_median"]
        rows.append(
            Row(
                "gated",
                "POST /v1/messages req/s",
                _r(med["POST /v1/messages"]),
                f"bare put_message {_r(med['bare put_message'])}",
                _r(t["ratio"]),
                f"ratio ≥ {t['target_ratio']}",
                t["ratio"] >= t["target_ratio"],
            )
        )
    if "latency" in d:
        lat, tg = d["latency"], d["latency"]["targets_ms"]
        base = lat["polling_2s_baseline_reply_ms_modelled"]
        variants = lat.get("variants", {})
        sandboxed = " (default sandbox)" if "sandbox" in variants else ""
        for key, metric, target in (
            ("post_to_agent_start_ms", "p50", "start_p50"),
            ("post_to_reply_ms", "p50", "reply_p50"),
            ("post_to_reply_ms", "p99", "reply_p99"),
        ):
            fig = lat[key][metric]
            rows.append(
                Row(
                    "gated",
                    f"{key.removesuffix('_ms').replace('_', ' ')} {metric} ms{sandboxed}",
                    _r(fig),
                    f"2 s polling {_r(base[metric])}" if "reply" in key else "–",
                    _r(round(fig / base[metric], 3)) if "reply" in key else "–",
                    f"≤ {tg[target]} ms",
                    fig <= tg[target],
                )
            )
        if "unconfined" in variants:
            bare = variants["unconfined"]["post_to_reply_ms"]["p50"]
            if "sandbox" in variants:
                fig = variants["sandbox"]["post_to_reply_ms"]["p50"]
                rows.append(
                    Row(
                        "gated",
                        "post to reply p50 ms: bubblewrap sandbox (default limits) vs unconfined",
                        _r(fig),
                        f"unconfined {_r(bare)}",
                        _r(round(fig / bare, 2)),
                        f"≤ {tg['sandbox_p50']} ms",
                        fig <= tg["sandbox_p50"],
                    )
                )
            else:
                metric, reason = "post to reply p50 ms, sandbox", lat["sandbox"]
                rows.append(Row("gated", metric, "–", reason, "–", "–", None))
    return rows


def sandbox_rows(d: dict[str, Any]) -> list[Row]:
    lat = d["start_to_first_output_ms"]
    bare, bwrap = lat["bare"], lat["bwrap"]
    target = d["target_overhead_ms"]
    return [
        Row(
            "sandbox",
            f"echo agent start to first output p50 / p99 ms (bubblewrap, {d['limits']})",
            f"{_r(bwrap['p50'])} / {_r(bwrap['p99'])}",
            f"bare subprocess {_r(bare['p50'])} / {_r(bare['p99'])}",
            _r(round(bwrap["p50"] / bare["p50"], 2)),
            f"overhead ≤ {_r(target)} ms p50 (is {_r(d['overhead_p50_ms'])})",
            d["overhead_p50_ms"] <= target,
        ),
        podman_row(d, bwrap),
    ]


def tools_rows(d: dict[str, Any]) -> list[Row]:
    trips = d["round_trip_ms"]
    send, hist, bare = trips["send_message"], trips["history"], trips["bare store_outbound"]
    late = d["reminder"]["lateness_s"]
    return [
        Row(
            "tools",
            "send_message round trip p50 / p99 ms (socket → gated → store)",
            f"{_r(send['p50'])} / {_r(send['p99'])}",
            f"bare store_outbound {_r(bare['p50'])} / {_r(bare['p99'])}",
            _r(round(send["p50"] / bare["p50"], 2)),
            f"p50 ≤ {_r(d['target_send_p50_ms'])} ms",
            send["p50"] <= d["target_send_p50_ms"],
        ),
        Row(
            "tools",
            "history (50 messages) round trip p50 / p99 ms",
            f"{_r(hist['p50'])} / {_r(hist['p99'])}",
            f"bare store_outbound {_r(bare['p50'])}",
            "–",
            "(informative)",
            True,
        ),
        Row(
            "tools",
            f"schedule_task(at=now+1s) → reply lateness p50 / p99 s ({late['n']} reminders)",
            f"{_r(late['p50'])} / {_r(late['p99'])}",
            "–",
            "–",
            f"p99 ≤ {_r(d['target_lateness_p99_s'])} s",
            late["p99"] <= d["target_lateness_p99_s"],
        ),
    ]


def podman_row(d: dict[str, Any], bwrap: dict[str, Any]) -> Row:
    podman = d["start_to_first_output_ms"].get("podman run")
    if podman is None:
        return Row("sandbox", "podman run", "–", d["podman"], "–", "(ratio, if measured)", None)
    return Row(
        "sandbox",
        "podman run of the same view and limits, start to first output p50 / p99 ms",
        f"{_r(podman['p50'])} / {_r(podman['p99'])}",
        f"bubblewrap {_r(bwrap['p50'])} / {_r(bwrap['p99'])}",
        _r(d["podman_over_bwrap_p50"]),
        "(informative: bubblewrap's lead)",
        True,
    )


def metrics_rows(d: dict[str, Any]) -> list[Row]:
    g, t = d["gated"], d["timed"]
    health = g["health"]["median_ms"]
    rows = d["rows"]
    history = f"{sum(rows.values()):,} rows"
    return [
        Row(
            "metrics",
            "gated GET /metrics median ms",
            _r(g["warm"]["median_ms"]),
            f"/v1/health {_r(health)}",
            _r(g["warm"]["median_ms"] / health),
            "(report)",
            None,
        ),
        Row(
            "metrics",
            f"gated first scrape ms ({history})",
            _r(g["cold_ms"]),
            "–",
            "–",
            "(report)",
            None,
        ),
        Row(
            "metrics",
            "timed GET /metrics median ms",
            _r(t["warm"]["median_ms"]),
            "–",
            "–",
            "(report)",
            None,
        ),
    ]


def timed_rows(d: dict[str, Any]) -> list[Row]:
    tg, cap = d["targets"], d["baseline_firing_capacity"]["fires_per_s"]
    rows = []
    for r in d["runs"]:
        size = f"{r['tasks']:,} tasks/{r['spread_s']:g} s"
        idle = max(r["idle_cpu_pct_before_first_slot"], r["idle_cpu_pct_after_burst"])
        rows += [
            Row(
                "timed",
                f"{size}: lateness p99 s",
                _r(r["lateness_p99_s"]),
                "–",
                "–",
                f"≤ {tg['lateness_p99_s']} s",
                r["lateness_p99_s"] <= tg["lateness_p99_s"],
            ),
            Row(
                "timed",
                f"{size}: needed fires/s",
                _r(r["required_rate_per_s"]),
                f"capacity {_r(cap)}",
                _r(r["capacity_over_required"]),
                "capacity > needed",
                r["capacity_over_required"] > 1,
            ),
            Row(
                "timed",
                f"{size}: idle CPU %",
                _r(idle),
                "–",
                "–",
                "< 2 %",
                idle < tg["idle_cpu_pct"],
            ),
            Row(
                "timed",
                f"{size}: start-up s",
                _r(r["startup_s"]),
                "–",
                "–",
                f"≤ {tg['startup_s']} s",
                r["startup_s"] <= tg["startup_s"],
            ),
        ]
    return rows


def slots_rows(d: dict[str, Any]) -> list[Row]:
    new, old, tg = d["next_slot"], d["baseline_croniter_in_zone"], d["targets"]
    apia = d["apia_minutely_across_missing_day"]
    return [
        Row(
            "slots",
            "next_slot µs/call median / p99 / max (cold zone cache)",
            f"{_r(new['median_us'])} / {_r(new['p99_us'])} / {_r(new['max_us'])}",
            f"croniter in zone {_r(old['median_us'])} / {_r(old['p99_us'])} / {_r(old['max_us'])}",
            _r(d["median_ratio"]),
            f"median ratio ≤ {tg['median_ratio']:g}, max < {tg['max_ms']:g} ms",
            d["median_ratio"] <= tg["median_ratio"] and d["max_ms_overall"] < tg["max_ms"],
        ),
        Row(
            "slots",
            "next_slot µs: `* * * * *` at Pacific/Apia's missing day",
            _r(apia["next_slot_us_at_the_change"]),
            f"croniter in zone {_r(apia['baseline_us_at_the_change'])}",
            f"1/{round(apia['baseline_us_at_the_change'] / apia['next_slot_us_at_the_change']):,}",
            f"< {tg['max_ms']:g} ms",
            apia["next_slot_us_at_the_change"] < tg["max_ms"] * 1000,
        ),
    ]


def dashd_rows(d: dict[str, Any]) -> list[Row]:
    pages = d["pages"]
    base = pages.get("baseline: /healthz", {}).get("p95_ms", 0.0)
    worst = max(
        (p for k, p in pages.items() if not k.startswith("baseline")), key=lambda p: p["p95_ms"]
    )
    return [
        Row(
            "dashd",
            f"worst page p95 ms at {d['messages']:,} messages ({worst['url']})",
            _r(d["worst_page_p95_ms"]),
            f"/healthz {_r(base)}",
            _r(round(d["worst_page_p95_ms"] / base, 1)) if base else "–",
            f"≤ {d['target_p95_ms']:g} ms",
            bool(d["all_pages_within_target"]),
        )
    ]


def overhead_rows(d: dict[str, Any]) -> list[Row]:
    seen = d["gated"]["observed"]["post_to_reply_ms"]
    plain = d["gated"]["plain"]["post_to_reply_ms"]
    cpu = d["cpu_s"]
    how = f"/metrics scraped every {d['scrape_every_s']:g} s and tracing on"
    return [
        Row(
            "overhead",
            f"post to reply p50 / p99 ms, {how}",
            f"{_r(seen['p50'])} / {_r(seen['p99'])}",
            f"neither {_r(plain['p50'])} / {_r(plain['p99'])}",
            _r(round(seen["p50"] / plain["p50"], 2)),
            f"≤ 2 ms p50 more (is {_r(d['reply_p50_overhead_ms'])})",
            d["reply_p50_overhead_ms"] <= d["targets"]["reply_p50_overhead_ms"],
        ),
        Row(
            "overhead",
            f"gated CPU s over the run, {how}",
            _r(cpu["observed"]),
            f"neither {_r(cpu['plain'])}",
            _r(round(cpu["observed"] / cpu["plain"], 2)),
            f"≤ 5 % more (is {_r(d['cpu_overhead_pct'])} %)",
            d["cpu_overhead_pct"] <= d["targets"]["cpu_overhead_pct"],
        ),
    ]


def sse_rows(d: dict[str, Any]) -> list[Row]:
    sse, poll = d["sse"], d.get("polling")
    return [
        Row(
            "sse",
            f"store → visible p95 ms, {d['streams']:,} open SSE streams",
            _r(sse["latency"]["p95_ms"]),
            f"1 s polling {_r(poll['latency']['p95_ms'])}" if poll else "–",
            _r(round(sse["latency"]["p95_ms"] / poll["latency"]["p95_ms"], 2)) if poll else "–",
            f"≤ {d['target_p95_ms']:g} ms",
            sse["latency"]["p95_ms"] <= d["target_p95_ms"],
        ),
        Row(
            "sse",
            f"dashd idle CPU % of a core, {d['streams']:,} streams",
            _r(sse["idle_cpu_pct_of_a_core"]),
            f"1 s polling {_r(poll['idle_cpu_pct_of_a_core'])}" if poll else "–",
            "–",
            f"< {d['target_idle_cpu_pct']:g} %",
            sse["idle_cpu_pct_of_a_core"] < d["target_idle_cpu_pct"],
        ),
        Row(
            "sse",
            "dashd RSS KB per open stream",
            _r(sse["rss_kb_per_client"]),
            "–",
            "–",
            "(informative)",
            True,
        ),
    ]


def system_rows(d: dict[str, Any]) -> list[Row]:
    tg = d["targets"]
    rows = []
    if "capacity" in d:
        c = d["capacity"]
        label = f"capacity ({c['chats']} chats, offered {_r(c['offered_rate_per_s'])}/s)"
        rows += [
            Row(
                "system",
                f"{label}: replies/s end to end, p50 / p99 ms, max backlog",
                f"{_r(c['replies_per_s'])}; {_r(c['reply_p50_ms'])} / {_r(c['reply_p99_ms'])}; "
                f"{c['max_outbox_backlog']}",
                f"offered {_r(c['offered_rate_per_s'])}/s",
                _r(round(c["replies_per_s"] / c["offered_rate_per_s"], 2)),
                "(informative: the ceiling)",
                True,
            ),
            Row(
                "system",
                f"{label}: lost / duplicated / 'locked' in logs",
                f"{c['lost']} / {c['duplicated']} / {c['locked_errors']}",
                f"{c['accepted']} accepted",
                "–",
                "0 / 0 / 0",
                c["lost"] == c["duplicated"] == c["locked_errors"] == 0,
            ),
        ]
    for part in ("system", "contention"):
        if part not in d:
            continue
        s = d[part]
        label = f"{part} ({s['chats']} chats, {s['seconds']:g} s)"
        rows += [
            Row(
                "system",
                f"{label}: replies/s end to end",
                _r(s["replies_per_s"]),
                f"offered {_r(s['offered_rate_per_s'])}/s",
                _r(round(s["replies_per_s"] / s["offered_rate_per_s"], 2)),
                "keeps up (≥ 0.9)",
                s["replies_per_s"] >= 0.9 * s["offered_rate_per_s"],
            ),
            Row(
                "system",
                f"{label}: reply p50 / p99 ms",
                f"{_r(s['reply_p50_ms'])} / {_r(s['reply_p99_ms'])}",
                "–",
                "–",
                f"p99 ≤ {tg['reply_p99_ms']:g} ms",
                s["reply_p99_ms"] <= tg["reply_p99_ms"],
            ),
            Row(
                "system",
                f"{label}: lost / duplicated / 'locked' in logs",
                f"{s['lost']} / {s['duplicated']} / {s['locked_errors']}",
                f"{s['accepted']} accepted",
                "–",
                "0 / 0 / 0",
                s["lost"] == s["duplicated"] == s["locked_errors"] == 0,
            ),
            Row(
                "system",
                f"{label}: max outbox backlog",
                _r(s["max_outbox_backlog"]),
                "–",
                "–",
                "(informative)",
                True,
            ),
            Row(
                "system",
                f"{label}: CPU % / max RSS MB per daemon",
                ", ".join(
                    f"{n} {s['cpu_pct'].get(n, '?')}/{s['max_rss_mb'].get(n, '?')}"
                    for n in ("gated", "timed", "onbod", "dashd")
                ),
                "–",
                "–",
                "(informative)",
                True,
            ),
        ]
        if part == "contention":
            rows.append(
                Row(
                    "system",
                    f"{label}: task runs fired / dashboard pages (p95 ms, errors)",
                    f"{s['task_runs_fired']} / {s['dashboard_pages']} "
                    f"({s['dashboard_p95_ms']}, {len(s['dashboard_errors'])})",
                    "–",
                    "–",
                    "≈ 1k runs/min, 0 page errors",
                    not s["dashboard_errors"],
                )
            )
    if "growth" in d:
        g = d["growth"]["per_message_us"]
        sizes = list(g)
        rows.append(
            Row(
                "system",
                "growth: µs per message at " + ", ".join(f"{int(k):,}" for k in sizes),
                " / ".join(_r(v) for v in g.values()),
                f"{int(sizes[0]):,} rows {_r(g[sizes[0]])}",
                _r(d["growth"]["ratio_last_to_first"]),
                f"ratio ≤ {tg['growth_ratio']}",
                d["growth"]["ratio_last_to_first"] <= tg["growth_ratio"],
            )
        )
    return rows


def adapters_rows(d: dict[str, Any]) -> list[Row]:
    base, tg, rows = d["direct"], d["targets"], []
    for name, a in d["adapters"].items():
        plain = a.get("synapse_to_plain_client_ms")
        for key, what in (
            ("event_to_agent_start_ms", "agent start"),
            ("event_to_reply_ms", "reply"),
        ):
            fig, b = a[key], base[key]
            over = a["overhead_p50_ms"][key]
            if plain is None:
                judged, target = (
                    over,
                    f"overhead ≤ {tg['overhead_p50_ms']:g} ms p50 (is {_r(over)})",
                )
            else:  # the homeserver's own delivery to a plain client is not the adapter's
                judged = a["overhead_p50_ms_less_synapse"][key]
                target = (
                    f"overhead less Synapse's {_r(plain['p50'])} ms ≤ {tg['overhead_p50_ms']:g} ms"
                    f" p50 (is {_r(judged)}; raw {_r(over)})"
                )
            rows.append(
                Row(
                    "adapters",
                    f"{name}: event to {what} p50 / p99 ms",
                    f"{_r(fig['p50'])} / {_r(fig['p99'])}",
                    f"direct POST {_r(b['p50'])} / {_r(b['p99'])}",
                    _r(round(fig["p50"] / b["p50"], 2)),
                    target,
                    judged <= tg["overhead_p50_ms"],
                )
            )
        rss = a["rss_mb"]
        rows.append(
            Row(
                "adapters",
                f"{name}: RSS idle MB (own + mapped files)",
                f"{_r(rss['idle'])} ({_r(rss['idle_anon'])} + {_r(rss['idle_file'])})",
                "–",
                "–",
                f"≤ {tg['rss_idle_mb']:g} MB",
                rss["idle"] <= tg["rss_idle_mb"],
            )
        )
    return rows


BENCHES = [
    Bench("store", "store_bench.py", [], ["--rows", "1000", "--repeat", "1"], 300, store_rows),
    Bench(
        "pg_store",
        "pg_store_bench.py",
        [],
        ["--rows", "500", "--repeat", "1"],
        300,
        functools.partial(store_rows, bench="pg_store", raw="raw psycopg"),
    ),
    Bench(
        "gated",
        "gated_bench.py",
        [],
        ["--requests", "200", "--rounds", "1", "--samples", "20"],
        600,
        gated_rows,
    ),
    Bench(
        "metrics",
        "metrics_bench.py",
        [],
        ["--messages", "20000", "--runs", "2000", "--tasks", "1000", "--scrapes", "20"],
        600,
        metrics_rows,
    ),
    Bench("timed", "timed_bench.py", [], ["--sizes", "2000", "--spread", "10"], 900, timed_rows),
    Bench("slots", "slots_bench.py", [], ["--calls", "500"], 300, slots_rows),
    Bench("sandbox", "sandbox_bench.py", [], ["--samples", "40"], 300, sandbox_rows),
    Bench("tools", "tools_bench.py", [], ["--calls", "200", "--reminders", "5"], 300, tools_rows),
    Bench(
        "dashd", "dashd_bench.py", [], ["--messages", "20000", "--requests", "30"], 900, dashd_rows
    ),
    Bench(
        "sse",
        "sse_bench.py",
        [],
        ["--streams", "100", "--samples", "5", "--idle-s", "3"],
        600,
        sse_rows,
    ),
    Bench(
        "adapters",
        "adapters_bench.py",
        [],
        ["--events", "20", "--warmup", "3", "--idle-s", "5"],
        900,
        adapters_rows,
    ),
    Bench("overhead", "overhead_bench.py", [], ["--samples", "40"], 600, overhead_rows),
    Bench(
        "system",
        "system_bench.py",
        [],
        ["--seconds", "10", "--chats", "20", "--rate", "10", "--sizes", "10000", "50000"],
        900,
        system_rows,
    ),
]


def run_one(b: Bench, quick: bool, log_dir: Path) -> tuple[list[Row], dict[str, Any]]:
    """Run a benchmark within its budget; its rows, or one 'not measured' row with the reason."""
    result_file = RESULTS_DIR / f"{b.name}.json"
    before = result_file.stat().st_mtime if result_file.exists() else 0.0
    # Each bench's own file keeps what its owner committed; this run's figures go to the dated
    # file (so a quick run never replaces a full run's figures either).
    kept = result_file.read_bytes() if result_file.exists() else None
    argv = [sys.executable, str(BENCH / b.script), *(b.quick if quick else b.full)]
    started = time.monotonic()
    log = log_dir / f"{b.name}.log"
    print(f"== {b.name}: {' '.join(argv[1:])} (budget {b.budget_s:g} s)", flush=True)
    reason = ""
    code = 0
    with log.open("w") as out:
        try:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=b.budget_s)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            reason = f"over its {b.budget_s:g} s budget"
    took = round(time.monotonic() - started, 1)
    fresh = result_file.exists() and result_file.stat().st_mtime > before
    # Exit 1 with its results written is a bench that measured and missed a target (its rows
    # say so); exit 1 without them is a crash.
    if not reason and (code not in (0, 1) or (code == 1 and not fresh)):
        reason = f"exited {code} (see {log.name})"
    if not reason and not fresh:
        reason = f"wrote no {result_file.name}"
    if reason:
        if kept is not None:
            result_file.write_bytes(kept)
        return [Row(b.name, "(not measured)", "–", "–", "–", "–", None)], {
            "error": reason,
            "seconds": took,
        }
    data = json.loads(result_file.read_text())
    if kept is not None:
        result_file.write_bytes(kept)
    try:
        rows = b.rows(data)
    except (KeyError, TypeError, ZeroDivisionError) as exc:
        rows = [Row(b.name, f"(unreadable result: {exc!r})", "–", "–", "–", "–", None)]
    return rows, {"seconds": took, "result": data}


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"One run of `uv run python -m bench{' --quick' if meta['quick'] else ''}` on "
        f"{meta['when']} (Python {meta['python']}, SQLite {meta['sqlite']}, {meta['cpus']} "
        "CPUs shared with other work: absolute figures are noisy, ratios against the baseline "
        "measured in the same run less so). How to run and what each one measures: README.md.",
        "",
        "| bench | metric | figure | baseline | ratio | target | pass |",
        "|---|---|---:|---|---:|---|:-:|",
    ]
    for r in rows:
        mark = "✅" if r.ok else ("❌" if r.ok is False else "–")
        lines.append(
            f"| {r.bench} | {r.metric} | {r.figure} | {r.baseline} | {r.ratio} | {r.target} "
            f"| {mark} |"
        )
    errors = {k: v["error"] for k, v in meta["benches"].items() if "error" in v}
    if errors:
        lines += ["", "Not measured in this run:", ""]
        lines += [f"- **{k}**: {v}" for k, v in errors.items()]
    lines += [
        "",
        "Seconds per benchmark: "
        + ", ".join(f"{k} {v['seconds']}" for k, v in meta["benches"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


def _table_rows(text: str) -> list[str]:
    """The result rows of a RESULTS.md table (not its header or rule)."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [line for line in rows if not line.startswith("| bench | metric |")]


def merged(old: str, new: str, ran: set[str]) -> str:
    """`--only`: this run's rows for the benches it ran, every other bench's rows kept from the
    existing table (in the usual order), then this run's notes (not measured, seconds) and the
    existing table's notes."""
    fresh, kept = _table_rows(new), _table_rows(old)
    rows = [
        line
        for name in (b.name for b in BENCHES)
        for line in (fresh if name in ran else kept)
        if line.split("|")[1].strip() == name
    ]
    intro, _, after = new.partition("| bench | metric |")
    intro = intro.replace("-m bench", f"-m bench --only {' '.join(sorted(ran))}", 1)
    # `after` begins with the rest of the header line ("figure | baseline | …"): skip it.
    body = after.partition("\n")[2]
    run_notes = "\n".join(line for line in body.splitlines() if not line.startswith("|"))
    old_notes = old.partition("Seconds per benchmark:")[2].partition("\n")[2]
    return (
        f"{intro.rstrip()} Rows of {', '.join(sorted(ran))} are from this run; the others from "
        "earlier runs (their conditions in the notes below).\n\n"
        "| bench | metric | figure | baseline | ratio | target | pass |\n"
        "|---|---|---:|---|---:|---|:-:|\n"
        + "\n".join(rows)
        + f"\n{run_notes.rstrip()}\n\n{old_notes.strip()}\n"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every bench")
    p.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], help="run these only")
    p.add_argument("--budget-scale", type=float, default=1.0, help="multiply every time budget")
    args = p.parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    print(f"logs in {log_dir}")
    now = datetime.now(UTC)
    meta: dict[str, Any] = {
        "when": now.strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "benches": {},
    }
    rows: list[Row] = []
    for b in BENCHES:
        if args.only and b.name not in args.only:
            continue
        scaled = Bench(b.name, b.script, b.full, b.quick, b.budget_s * args.budget_scale, b.rows)
        got, info = run_one(scaled, args.quick, log_dir)
        rows += got
        meta["benches"][b.name] = info
        for r in got:
            print(f"   {r.metric}: {r.figure} (baseline {r.baseline}, target {r.target}) ok={r.ok}")
    suffix = "-quick" if args.quick else ""
    out = RESULTS_DIR / f"{now.strftime('%Y-%m-%dT%H%M')}{suffix}.json"
    out.write_text(json.dumps({**meta, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    table = TABLE.with_name("RESULTS-quick.md") if args.quick else TABLE
    text = markdown(rows, meta)
    if args.only and table.exists():
        text = merged(table.read_text(), text, set(args.only))
    table.write_text(text)
    print(f"written {out} and {table}")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
