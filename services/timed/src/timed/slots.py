"""Pure schedule arithmetic: validating cron/zone/interval input and computing a task's slots
(croniter in the task's IANA zone). No I/O; every function takes the time it reasons about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from store import InvalidInput

MIN_INTERVAL_S: Final = 10
MAX_INTERVAL_S: Final = 366 * 86400
# croniter's order; an optional sixth field is seconds (croniter's convention, seconds last).
CRON_FIELDS: Final = ("minute", "hour", "day-of-month", "month", "day-of-week", "second")
EVERY_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Kind = Literal["cron", "interval", "once"]


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


def validate_cron(expr: str) -> str:
    """A 5-field cron expression (optional 6th = seconds) or an @alias; InvalidInput names the
    offending field."""
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidInput("cron", "must be a cron expression like '30 2 * * *'")
    text = " ".join(expr.split())
    if text.startswith("@"):
        if not croniter.is_valid(text):
            raise InvalidInput("cron", f"unknown cron alias {text!r}")
        return text
    parts = text.split(" ")
    if len(parts) not in (5, 6):
        raise InvalidInput(
            "cron", f"{text!r} has {len(parts)} fields; expected 5 (m h dom mon dow) or 6 (+sec)"
        )
    for i, part in enumerate(parts):
        probe = ["*"] * len(parts)
        probe[i] = part
        if not croniter.is_valid(" ".join(probe)):
            raise InvalidInput("cron", f"bad {CRON_FIELDS[i]} field {part!r} in {text!r}")
    if not croniter.is_valid(text):
        raise InvalidInput("cron", f"{text!r} is not a valid cron expression")
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except Exception as exc:  # croniter raises several types for unsatisfiable expressions
        raise InvalidInput("cron", f"{text!r} never matches: {exc}") from exc
    return text


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


def _fixed_hour(expr: str) -> bool:
    """True when the hour field names hours (`2`, `9-17`) rather than `*` or `*/n`.

    Such a job fires once per local day-hour, so the second pass of a repeated (fall-back)
    hour is skipped; an hour-wildcard job follows real time through the repeated hour.
    """
    if expr.startswith("@"):
        return expr not in ("@hourly",)
    return not expr.split(" ")[1].startswith("*")


def _cron_next(expr: str, tz: ZoneInfo, after: datetime) -> datetime:
    it = croniter(expr, after.astimezone(tz))
    fixed = _fixed_hour(expr)
    while True:
        local = it.get_next(datetime).astimezone(UTC).astimezone(tz)
        # zoneinfo sets fold=1 on the second occurrence of a repeated wall-clock time.
        if not (fixed and local.fold == 1):
            return local.astimezone(UTC)


def _cron_prev(expr: str, tz: ZoneInfo, before: datetime) -> datetime:
    it = croniter(expr, before.astimezone(tz))
    fixed = _fixed_hour(expr)
    while True:
        local = it.get_prev(datetime).astimezone(UTC).astimezone(tz)
        if not (fixed and local.fold == 1):
            return local.astimezone(UTC)


def next_slot(task: HasSchedule, after: datetime) -> datetime | None:
    """The first slot strictly after `after` (aware UTC), or None when a one-shot is spent.

    cron: croniter in the task's zone. A wall time missing in a spring-forward gap fires at the
    first instant after the gap (croniter's behaviour: `30 2 * * *` in Europe/Prague fires at
    03:00 CEST on the transition day); a fixed-hour job fires once in a repeated fall-back hour
    (the first pass). interval: `after + interval_s` (slots are anchored on the previous slot).
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


def latest_slot(task: HasSchedule, first: datetime, bound: datetime) -> datetime:
    """The latest slot in [first, bound], given that `first` is a slot and first <= bound."""
    if task.kind == "cron":
        assert task.cron is not None
        prev = _cron_prev(task.cron, zone(task.tz), bound + timedelta(microseconds=1))
        return max(prev, first)
    if task.kind == "interval":
        assert task.interval_s is not None
        step = timedelta(seconds=task.interval_s)
        return first + step * ((bound - first) // step)
    return first
