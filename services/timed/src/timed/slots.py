"""Pure schedule arithmetic: validating zone/interval input and computing a task's slots (cron in
the task's IANA zone, with Vixie cron's daylight-saving rules). No I/O; every function takes the
time it reasons about."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from store import InvalidInput

from timed.cronexpr import CRON_FIELDS, CronSpec, parse_cron, validate_cron
from timed.zoneoffsets import next_transition, offset_at, prev_transition

MIN_INTERVAL_S: Final = 10
MAX_INTERVAL_S: Final = 366 * 86400
# Expressions with a croniter kept per thread before the cache starts over.
MAX_CACHED_ITERS: Final = 4096
EVERY_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Kind = Literal["cron", "interval", "once"]

__all__ = [
    "CRON_FIELDS",
    "HasSchedule",
    "Kind",
    "Schedule",
    "check_interval",
    "latest_slot",
    "next_slot",
    "next_slots",
    "parse_every",
    "validate_cron",
    "zone",
]


class HasSchedule(Protocol):
    """What slot arithmetic needs of a task (a `Task` row or a `Schedule` being created)."""

    @property
    def kind(self) -> Kind: ...
    @property
    def cron(self) -> str | None: ...
    @property
    def interval_s(self) -> int | None: ...
    @property
    def run_at(self) -> str | None: ...
    @property
    def tz(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: Kind
    cron: str | None = None
    interval_s: int | None = None
    run_at: str | None = None
    tz: str = "UTC"


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; InvalidInput(tz) when unknown."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise InvalidInput("tz", f"unknown timezone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("tz", f"unknown timezone {name!r} (use an IANA name)") from exc


def parse_every(text: str) -> int:
    """`15m`, `90s`, `2h`, `1d` or plain seconds -> seconds (at least MIN_INTERVAL_S)."""
    raw = text.strip().lower() if isinstance(text, str) else ""
    unit = raw[-1:] if raw[-1:] in EVERY_UNITS else "s"
    number = raw[:-1] if raw[-1:] in EVERY_UNITS else raw
    if not (number.isascii() and number.isdigit()):
        raise InvalidInput("every", f"{text!r} is not a duration like 15m, 90s, 2h or 1d")
    return check_interval(int(number) * EVERY_UNITS[unit])


def check_interval(seconds: int) -> int:
    if seconds < MIN_INTERVAL_S:
        raise InvalidInput("every", f"{seconds}s is shorter than the minimum {MIN_INTERVAL_S}s")
    if seconds > MAX_INTERVAL_S:
        raise InvalidInput("every", f"{seconds}s is longer than the maximum of 366 days")
    return seconds


class _WallClock(threading.local):
    """croniter instances per expression, per thread (croniter keeps its position in itself)."""

    def __init__(self) -> None:
        self.iters: dict[str, croniter] = {}

    def next_after(self, spec: CronSpec, wall: int) -> int:
        """The first wall time (local seconds, as if UTC) after `wall` matching `spec`."""
        return int(self._iter(spec).get_next(float, start_time=float(wall), update_current=False))

    def prev_before(self, spec: CronSpec, wall: int) -> int:
        """The last wall time before `wall` matching `spec`."""
        return int(self._iter(spec).get_prev(float, start_time=float(wall), update_current=False))

    def _iter(self, spec: CronSpec) -> croniter:
        it = self.iters.get(spec.text)
        if it is None:
            if len(self.iters) >= MAX_CACHED_ITERS:
                self.iters.clear()
            expr, day_or = spec.croniter_expr()
            # In UTC croniter does plain wall-clock arithmetic: no offset ever changes.
            it = croniter(expr, datetime(2000, 1, 1, tzinfo=UTC), day_or=day_or)
            self.iters[spec.text] = it
        return it


_WALL = _WallClock()


def _second_pass_start(tz: ZoneInfo, t: int) -> tuple[int, int]:
    """For `t` in the second pass of a repeated interval: the transition that began it, and the
    offset before it."""
    start = prev_transition(tz, t, t - 2 * 86400)
    assert start is not None
    return start, offset_at(tz, start - 1)


def _is_second_pass(tz: ZoneInfo, t: int) -> bool:
    # zoneinfo sets fold=1 on the second occurrence of a repeated wall-clock time.
    return datetime.fromtimestamp(t, tz).fold == 1


def cron_next(spec: CronSpec, tz: ZoneInfo, after: int) -> int:
    """The first slot of `spec` in `tz` after POSIX second `after` (see docs/timed.md).

    The UTC line is cut at the zone's offset changes; inside a piece wall time is UTC plus one
    offset, so croniter finds the next matching wall time there. At a change, a fixed-time job
    whose times fell into a gap fires once, at the change; a fixed-time job skips the second
    pass of a repeated interval; a real-time job does neither.
    """
    lo, off = after, offset_at(tz, after + 1)  # searching (lo, ...) where the offset is `off`
    searched_from, wall = lo + off, _WALL.next_after(spec, lo + off)
    while True:
        start = lo + off
        if not searched_from <= start < wall:
            # `wall` is only known to be the next match after `searched_from`.
            searched_from, wall = start, _WALL.next_after(spec, start)
        slot = wall - off
        change = next_transition(tz, lo + 1, slot)
        if change is None:
            if not spec.real_time and _is_second_pass(tz, slot):
                began, before = _second_pass_start(tz, slot)
                lo = began + (before - off) - 1
                continue
            return slot
        new_off = offset_at(tz, change)
        # No match in walls (start, wall), so one in the gap [change+off, change+new_off) is
        # `wall` itself.
        if not spec.real_time and new_off > off and wall < change + new_off:
            return change
        lo, off = change - 1, new_off


def cron_prev(spec: CronSpec, tz: ZoneInfo, until: int) -> int:
    """The last slot of `spec` in `tz` at or before POSIX second `until` (mirror of cron_next)."""
    hi, off = until, offset_at(tz, until)  # searching (..., hi] where the offset is `off`
    searched_to, wall = hi + off, _WALL.prev_before(spec, hi + off + 1)
    while True:
        end = hi + off
        if not wall <= end <= searched_to:
            searched_to, wall = end, _WALL.prev_before(spec, end + 1)
        slot = wall - off
        change = prev_transition(tz, hi, slot)
        if change is None:
            if not spec.real_time and _is_second_pass(tz, slot):
                began, before = _second_pass_start(tz, slot)
                hi, off = began - 1, before
                continue
            return slot
        old_off = offset_at(tz, change - 1)
        # No match in walls (wall, end], so the last one before the change's wall is `wall`.
        if not spec.real_time and off > old_off and wall >= change + old_off:
            return change
        hi, off = change - 1, old_off


def _cron_next(expr: str, tz: ZoneInfo, after: datetime) -> datetime:
    t = cron_next(parse_cron(expr), tz, math.floor(after.timestamp()))
    return datetime.fromtimestamp(t, UTC)


def _cron_prev(expr: str, tz: ZoneInfo, until: datetime) -> datetime:
    t = cron_prev(parse_cron(expr), tz, math.floor(until.timestamp()))
    return datetime.fromtimestamp(t, UTC)


def next_slot(task: HasSchedule, after: datetime) -> datetime | None:
    """The first slot strictly after `after` (aware UTC), or None when a one-shot is spent.

    cron: Vixie cron's rules in the task's zone (docs/timed.md). A job with `*` in its minute or
    hour field runs on real time: nothing for a spring-forward gap, both passes of a repeated
    interval. Any other job runs once at the end of a gap that swallowed any of its times
    (`30 2 * * *` in Europe/Prague: 03:00 CEST on 2026-03-29), and only in the first pass of a
    repeated interval. interval: `after + interval_s` (slots are anchored on the previous slot).
    """
    if after.tzinfo is None:
        raise ValueError("naive datetime given to next_slot")
    if task.kind == "cron":
        assert task.cron is not None
        return _cron_next(task.cron, zone(task.tz), after)
    if task.kind == "interval":
        assert task.interval_s is not None
        return after.astimezone(UTC) + timedelta(seconds=task.interval_s)
    assert task.run_at is not None
    run_at = datetime.fromisoformat(task.run_at.replace("Z", "+00:00"))
    return run_at if run_at > after else None


def next_slots(task: HasSchedule, after: datetime, count: int) -> list[datetime]:
    """Up to `count` slots after `after`, in order (fewer when a one-shot is spent)."""
    out: list[datetime] = []
    current: datetime | None = after
    while len(out) < count and current is not None:
        current = next_slot(task, current)
        if current is not None:
            out.append(current)
    return out


def latest_slot(task: HasSchedule, first: datetime, bound: datetime) -> datetime:
    """The latest slot in [first, bound], given that `first` is a slot and first <= bound."""
    if task.kind == "cron":
        assert task.cron is not None
        prev = _cron_prev(task.cron, zone(task.tz), bound)
        return max(prev, first)
    if task.kind == "interval":
        assert task.interval_s is not None
        step = timedelta(seconds=task.interval_s)
        return first + step * ((bound - first) // step)
    return first
