"""Cost of one `next_slot` call for cron tasks: median, p99 and max over many expressions, zones
and start times (around real offset changes too), and the worst case issue 21 names: `* * * * *`
across Pacific/Apia's missing 2011-12-30. Baseline in the same run: the previous implementation
(croniter in the task's zone, dropping fold=1 for fixed-hour jobs), on the same calls.

Run: `uv run python bench/slots_bench.py [--calls 5000] [--seed 21]`.
Targets (issue 21): median within 2x of the baseline, no call above 50 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from timed.slots import Schedule, next_slot

RESULTS = Path(__file__).parent / "results" / "slots.json"
ZONES = [
    "UTC",
    "Europe/Prague",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "America/Havana",
    "Africa/Casablanca",
    "Antarctica/Troll",
    "Pacific/Apia",
    "Asia/Kolkata",
    "Europe/London",
]
COMMON = [
    "* * * * *",
    "*/5 * * * *",
    "*/20 * * * *",
    "0 * * * *",
    "15 */2 * * *",
    "30 2 * * *",
    "0 9 * * 1-5",
    "30 7 * * mon-fri",
    "0 9-17 * * 1-5",
    "0 0 1 * *",
    "0 0 1 1 *",
    "0 12 15 * *",
    "45 23 * * 0",
    "0 0 13 * 5",
    "0 0 29 2 *",
    "@hourly",
    "@daily",
    "@weekly",
    "0,30 1-3 * * *",
    "10 2 * * 6,0",
]
MAX_TARGET_MS = 50.0
MEDIAN_RATIO_TARGET = 2.0


def legacy_next(expr: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The implementation before issue 21: croniter in the zone, second pass of fixed hours
    dropped."""
    fixed = expr != "@hourly" if expr.startswith("@") else not expr.split(" ")[1].startswith("*")
    it = croniter(expr, after.astimezone(tz))
    while True:
        local = it.get_next(datetime).astimezone(UTC).astimezone(tz)
        if not (fixed and local.fold == 1):
            return local.astimezone(UTC)


def generated(rng: random.Random) -> str:
    """A random crontab line: values, ranges, steps, lists."""

    def field(lo: int, hi: int) -> str:
        kind = rng.choice(["*", "step", "value", "range", "list"])
        if kind == "*":
            return "*"
        if kind == "step":
            return f"*/{rng.randint(2, max(2, (hi - lo) // 2))}"
        if kind == "value":
            return str(rng.randint(lo, hi))
        if kind == "range":
            a = rng.randint(lo, hi)
            return f"{a}-{rng.randint(a, hi)}"
        return ",".join(str(v) for v in sorted(rng.sample(range(lo, hi + 1), 3)))

    dom = field(1, 28) if rng.random() < 0.3 else "*"
    dow = field(0, 6) if rng.random() < 0.3 else "*"
    month = field(1, 12) if rng.random() < 0.2 else "*"
    return f"{field(0, 59)} {field(0, 23)} {dom} {month} {dow}"


def offset_changes(tz: ZoneInfo, year: int) -> list[datetime]:
    out = []
    u = datetime(year, 1, 1, tzinfo=UTC)
    while u.year == year:
        nxt = u + timedelta(hours=1)
        if u.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            out.append(nxt)
        u = nxt
    return out


def calls(n: int, seed: int) -> list[tuple[str, str, datetime]]:
    """(expr, zone, after): half anywhere in 2024-2030, half within hours of an offset change."""
    rng = random.Random(seed)
    changes = {z: offset_changes(ZoneInfo(z), 2025) for z in ZONES}
    changes["Pacific/Apia"] = offset_changes(ZoneInfo("Pacific/Apia"), 2011)
    out = []
    for i in range(n):
        expr = rng.choice(COMMON) if i % 2 else generated(rng)
        zone = rng.choice(ZONES)
        if i % 4 < 2 and changes[zone]:
            after = rng.choice(changes[zone]) + timedelta(seconds=rng.uniform(-4, 4) * 3600)
        else:
            after = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.uniform(0, 7 * 365))
        out.append((expr, zone, after))
    return out


def timed_call(fn: Callable[[], object]) -> float:
    started = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - started) / 1000


def summary(us: list[float]) -> dict[str, float]:
    ordered = sorted(us)
    return {
        "median_us": round(statistics.median(ordered), 1),
        "p99_us": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 1),
        "max_us": round(ordered[-1], 1),
        "calls": len(ordered),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--seed", type=int, default=21)
    args = p.parse_args()
    work = calls(args.calls, args.seed)
    new_us: list[float] = []
    old_us: list[float] = []
    # Interleaved, so load on the machine hits both alike.
    for expr, zone, after in work:
        schedule = Schedule("cron", cron=expr, tz=zone)
        new_us.append(timed_call(partial(next_slot, schedule, after)))
        old_us.append(timed_call(partial(legacy_next, expr, ZoneInfo(zone), after)))

    # The same calls again: every zone-year's offset changes are now cached, as in a daemon
    # that has been running for a while (the first pass pays for finding them).
    warm_us = [timed_call(partial(next_slot, Schedule("cron", e, tz=z), a)) for e, z, a in work]

    apia = ZoneInfo("Pacific/Apia")
    before_gap = datetime(2011, 12, 29, 23, 30, tzinfo=UTC)  # 13:30 local, the 29th
    minutely = Schedule("cron", cron="* * * * *", tz="Pacific/Apia")
    # The minute before the missing day, walked minute by minute through the change.
    apia_new: list[float] = []
    current = before_gap
    while current < datetime(2011, 12, 30, 10, 30, tzinfo=UTC):
        apia_new.append(timed_call(partial(next_slot, minutely, current)))
        nxt = next_slot(minutely, current)
        assert nxt is not None
        current = nxt
    edge = datetime(2011, 12, 30, 9, 59, 30, tzinfo=UTC)
    apia_edge_new_us = timed_call(partial(next_slot, minutely, edge))
    apia_edge_old_us = timed_call(partial(legacy_next, "* * * * *", apia, edge))

    new, old = summary(new_us), summary(old_us)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "seed": args.seed,
        "next_slot": new,
        "next_slot_warm_cache": summary(warm_us),
        "baseline_croniter_in_zone": old,
        "median_ratio": round(new["median_us"] / old["median_us"], 2),
        "apia_minutely_across_missing_day": {
            "next_slot_us_at_the_change": round(apia_edge_new_us, 1),
            "baseline_us_at_the_change": round(apia_edge_old_us, 1),
            "next_slot_max_us_over_the_hours_around_it": round(max(apia_new), 1),
        },
        "targets": {"median_ratio": MEDIAN_RATIO_TARGET, "max_ms": MAX_TARGET_MS},
    }
    result["max_ms_overall"] = round(max(new["max_us"], max(apia_new), apia_edge_new_us) / 1000, 2)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
