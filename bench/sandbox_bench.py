"""Start-to-first-output latency of the echo agent, bare subprocess (unconfined) vs the default
bubblewrap sandbox (the argv, empty environment, rlimits and per-run cgroup gated uses), and
`podman run` of a container with the same view and limits (bench/podman_variant.py; only where
podman can run one), p50 and p99, the variants interleaved in one run.

Run: `uv run python bench/sandbox_bench.py [--samples 200]`.
Target (issue 15): sandbox overhead ≤ 15 ms p50 over bare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gated.sandbox import (
    HostPaths,
    SandboxSettings,
    SandboxSpec,
    cgroup_parent,
    plan_launch,
    probe_bwrap,
)
from gated.sandbox.spawn import start_process
from podman_variant import find_podman, first_line_ms, podman_argv, podman_usable
from podman_variant import first_output_ms as podman_first_output_ms

RESULTS = Path(__file__).parent / "results" / "sandbox.json"
TARGET_OVERHEAD_MS = 15.0
PAYLOAD = json.dumps(
    {
        "group_folder": "bench",
        "chat_jid": "bench:1",
        "topic": "",
        "session_id": None,
        "system_messages": [],
        "messages": [{"seq": 1, "id": "m1", "sender": "b", "content": "hi", "verb": "message"}],
    }
).encode()


def first_output_ms(
    argv: list[str], env: dict[str, str], cwd: str, spec: SandboxSpec | None, named: str
) -> float:
    """From just before the run's cgroup is made to the agent's first line; the process is
    started as gated starts it (`start_process`) and its cgroup removed after, as gated does."""
    parent, _ = cgroup_parent()
    started = time.perf_counter()
    cg = parent.create(named, spec.memory_mb, spec.pids) if parent and spec else None
    try:
        proc = start_process(argv, cwd=cwd, env=env, limits=spec, cgroup=cg)
        return first_line_ms(proc, PAYLOAD, started)
    finally:
        if cg is not None:
            cg.remove()


def variants(work: Path) -> tuple[dict[str, Callable[[int], float]], str]:
    """The variants to time, and what became of podman's."""
    folder = work / "groups" / "bench"
    folder.mkdir(parents=True)
    host = HostPaths(str(folder), str(work / "groups"), str(work / "messages.db"))
    protocol = {"SWITCHBOARD_GROUP_FOLDER": "bench", "SWITCHBOARD_CHAT_JID": "bench:1"}
    command = ["switchboard-echo"]
    bare = plan_launch(
        SandboxSpec(sandbox="none"), SandboxSettings(), host, command, protocol, os.environ
    )
    spec = SandboxSpec()
    confined = plan_launch(spec, SandboxSettings(), host, command, protocol, os.environ)

    def run_bare(i: int) -> float:
        return first_output_ms(bare.argv, bare.env, str(folder), None, "")

    def run_bwrap(i: int) -> float:
        return first_output_ms(confined.argv, confined.env, str(folder), spec, f"run-{i}")

    runs = {"bare": run_bare, "bwrap": run_bwrap}
    podman = find_podman()
    if podman is None:
        return runs, "not installed"
    rootfs = work / "podman-rootfs"
    rootfs.mkdir()
    container = podman_argv(podman, rootfs, confined.argv, spec.memory_mb, spec.pids)
    why_not = podman_usable(container, PAYLOAD)
    if why_not is not None:
        return runs, why_not

    def run_podman(i: int) -> float:
        return podman_first_output_ms(container, PAYLOAD)

    runs["podman run"] = run_podman
    return runs, "measured"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--samples", type=int, default=200)
    args = p.parse_args()
    probe = probe_bwrap("bwrap")
    if not probe.works:
        raise SystemExit(f"bubblewrap cannot run here: {probe.reason}")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        runs, podman = variants(Path(tmp))
        times: dict[str, list[float]] = {name: [] for name in runs}
        for name, fn in runs.items():  # warm the page cache once
            fn(-1 - len(name))
        for i in range(args.samples):
            order = list(runs) if i % 2 == 0 else list(reversed(runs))
            for name in order:
                times[name].append(runs[name](i))
    summary = {
        name: {
            "p50": pct(v, 0.5),
            "p99": pct(v, 0.99),
            "mean": round(statistics.fmean(v), 2),
        }
        for name, v in times.items()
    }
    overhead = round(summary["bwrap"]["p50"] - summary["bare"]["p50"], 2)
    parent, reason = cgroup_parent()
    result = {
        "samples": args.samples,
        "start_to_first_output_ms": summary,
        "overhead_p50_ms": overhead,
        "target_overhead_ms": TARGET_OVERHEAD_MS,
        "bwrap": probe.version,
        "limits": f"cgroup v{parent.version}" if parent else f"rlimits ({reason})",
        "podman": podman,
        "podman_over_bwrap_p50": (
            round(summary["podman run"]["p50"] / summary["bwrap"]["p50"], 2)
            if "podman run" in summary
            else None
        ),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if sys.stdout.isatty():
        print(f"overhead p50 {overhead} ms (target ≤ {TARGET_OVERHEAD_MS} ms)")


if __name__ == "__main__":
    main()
