"""next_slot / latest_slot / validate_cron against an independent reference written from the
rules in docs/timed.md (Vixie cron): its own parser, and every UTC minute of a window around real
offset changes converted with zoneinfo and matched field by field. No croniter, no timed code.

SWITCHBOARD_CRON_EXAMPLES sets how many examples each property runs (`.ci/run` runs a long
variant); the seed is fixed (derandomize), so a failure reproduces."""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import store
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from timed.slots import Schedule, latest_slot, next_slot, validate_cron

EXAMPLES = int(os.environ.get("SWITCHBOARD_CRON_EXAMPLES", "100"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MINUTE = timedelta(minutes=1)
WINDOW = timedelta(hours=5)  # each side of an offset change

# (zone, year): every offset change of that year is a window. Unusual shapes first.
ZONE_YEARS = [
    ("Australia/Lord_Howe", 2025),  # 30-minute DST, at 02:00 local
    ("Pacific/Chatham", 2025),  # +12:45 / +13:45, at 02:45 local
    ("America/Sao_Paulo", 2015),  # DST began at midnight: 00:00-01:00 missing
    ("America/Sao_Paulo", 2016),
    ("America/Sao_Paulo", 2017),
    ("America/Sao_Paulo", 2018),
    ("America/Havana", 2025),  # 00:00 -> 01:00 and 01:00 -> 00:00
    ("Africa/Casablanca", 2025),  # one hour back for Ramadan, then forward again
    ("Antarctica/Troll", 2025),  # +00 <-> +02: a two-hour gap, a two-hour repeat
    ("Pacific/Apia", 2011),  # 2011-12-30 does not exist there (-10 -> +14)
    ("Europe/Prague", 2026),
    ("America/New_York", 2026),
]

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
REF_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (lowest, highest, names) per field, crontab(5).
REF_FIELDS = [
    (0, 59, []),
    (0, 23, []),
    (1, 31, []),
    (1, 12, MONTHS),
    (0, 7, DAYS),
]
ITEM = re.compile(r"(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?")
LONGEST_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


@dataclass(frozen=True)
class RefJob:
    fields: tuple[frozenset[int], ...]  # minute, hour, dom, month, dow (0..6, Sunday 0)
    real_time: bool  # a '*' in the minute or hour field
    days_and: bool  # dom or dow starts with '*'

    def matches(self, wall: datetime) -> bool:
        minute, hour, dom, month, dow = self.fields
        if wall.minute not in minute or wall.hour not in hour or wall.month not in month:
            return False
        dom_ok = wall.day in dom
        dow_ok = wall.isoweekday() % 7 in dow
        return (dom_ok and dow_ok) if self.days_and else (dom_ok or dow_ok)


def ref_number(text: str, lo: int, hi: int, names: list[str]) -> int | None:
    if text in names:
        return names.index(text) + (1 if names is MONTHS else 0)
    if not text.isdigit() or not lo <= int(text) <= hi:
        return None
    return int(text)


def ref_parse(expr: str) -> RefJob | None:
    """The job crontab(5) reads from `expr`, or None where cron would refuse it."""
    expr = " ".join(expr.split())
    expr = REF_ALIASES.get(expr.lower(), expr)
    parts = expr.split(" ")
    if len(parts) != 5:
        return None
    sets = []
    for part, (lo, hi, names) in zip(parts, REF_FIELDS, strict=True):
        values: set[int] = set()
        for item in part.lower().split(","):
            m = ITEM.fullmatch(item)
            if m is None:
                return None
            star, first, last, step = m.groups()
            if step is not None and (int(step) == 0 or (star is None and last is None)):
                return None  # a step needs '*' or a range
            if star:
                a, b = lo, hi
            else:
                a_ = ref_number(first, lo, hi, names)
                b_ = a_ if last is None else ref_number(last, lo, hi, names)
                if a_ is None or b_ is None or a_ > b_:
                    return None
                a, b = a_, b_
            values.update(range(a, b + 1, int(step or 1)))
        if hi == 7:
            values = {v % 7 for v in values}
        sets.append(frozenset(values))
    job = RefJob(
        tuple(sets),
        real_time="*" in parts[0] or "*" in parts[1],
        days_and=parts[2].startswith("*") or parts[4].startswith("*"),
    )
    if job.days_and and not any(d <= LONGEST_MONTH[m - 1] for m in sets[3] for d in sets[2]):
        return None  # matches no day at all: refused rather than never run
    return job


def ref_slots(job: RefJob, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Every slot in (start, end], by looking at each UTC minute's local wall clock."""
    out = []
    prev_wall = start.astimezone(tz).replace(tzinfo=None)
    latest_wall = prev_wall
    u = start + MINUTE
    while u <= end:
        wall = u.astimezone(tz).replace(tzinfo=None)
        hit = job.matches(wall)
        if job.real_time:
            due = hit
        else:
            repeated = wall <= latest_wall  # this wall time already happened once
            skipped = prev_wall + MINUTE
            in_gap = False
            while skipped < wall and not in_gap:
                in_gap = job.matches(skipped)
                skipped += MINUTE
            due = (hit and not repeated) or in_gap
        if due:
            out.append(u)
        prev_wall, latest_wall = wall, max(latest_wall, wall)
        u += MINUTE
    return out


@cache
def transitions() -> list[tuple[str, datetime]]:
    """Every offset change of ZONE_YEARS, to the minute (hourly scan, then minute by minute)."""
    found = []
    for name, year in ZONE_YEARS:
        tz = ZoneInfo(name)
        u = datetime(year, 1, 1, tzinfo=UTC)
        while u.year == year:
            nxt = u + timedelta(hours=1)
            if u.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
                m = u
                while m.astimezone(tz).utcoffset() == u.astimezone(tz).utcoffset():
                    m += MINUTE
                found.append((name, m))
            u = nxt
    return found


def test_reference_windows_cover_every_shape() -> None:
    jumps = {}
    for name, t in transitions():
        before = (t - MINUTE).astimezone(ZoneInfo(name)).utcoffset()
        after = t.astimezone(ZoneInfo(name)).utcoffset()
        assert before is not None
        assert after is not None
        jumps.setdefault(name, set()).add(after - before)
    assert jumps["Australia/Lord_Howe"] == {timedelta(minutes=30), timedelta(minutes=-30)}
    assert jumps["Antarctica/Troll"] == {timedelta(hours=2), timedelta(hours=-2)}
    assert timedelta(hours=24) in jumps["Pacific/Apia"]
    assert len(transitions()) >= 2 * len(ZONE_YEARS)


def field_text(
    draw: st.DrawFn,
    lo: int,
    hi: int,
    hot: list[int],
    names: list[str] | None = None,
    stars: bool = False,
) -> str:
    """One field: values, ranges (a-a too), stepped ranges, names, lists; with `stars` also a
    '*' or '*/n' (alone or in the list)."""

    def value() -> int:
        return draw(st.sampled_from(hot) | st.integers(lo, hi))

    def spell(v: int) -> str:
        if names and draw(st.booleans()):
            return names[(v - 1) % 12] if names is MONTHS else names[v % 7]
        return str(v)

    items = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["value", "value", "range", "aa", "srange"]))
        if kind == "value":
            items.append(spell(value()))
        elif kind == "aa":
            v = spell(value())
            items.append(f"{v}-{v}")
        else:
            a, b = sorted((value(), value()))
            step = f"/{draw(st.integers(1, 7))}" if kind == "srange" else ""
            items.append(f"{spell(a)}-{spell(b)}{step}")
    if stars:
        # '*' or '*/n', alone or anywhere in a list ('1,*/20').
        star = draw(st.just("*") | st.integers(1, hi - lo + 2).map(lambda n: f"*/{n}"))
        if draw(st.booleans()):
            items = []
        items.insert(draw(st.integers(0, len(items))), star)
    return ",".join(items)


def restricted(
    draw: st.DrawFn, lo: int, hi: int, hot: list[int], names: list[str] | None = None
) -> str:
    """A day or month field: `*` a third of the time, else a generated field ('*/2', '1,*/3'
    and '1-5' all occur: only a field starting with '*' makes the day rule AND)."""
    if draw(st.integers(0, 2)) == 0:
        return "*"
    return field_text(draw, lo, hi, hot, names, stars=draw(st.booleans()))


@st.composite
def window_case(draw: st.DrawFn) -> tuple[str, str, datetime]:
    name, change = draw(st.sampled_from(transitions()))
    tz = ZoneInfo(name)
    walls = [(change + k * MINUTE).astimezone(tz) for k in (-61, -1, 0, 1, 61)]
    # Wall times inside the gap or the repeated interval: its start, middle and end.
    jump = walls[2].replace(tzinfo=None) - walls[1].replace(tzinfo=None) - MINUTE
    first = walls[1] + MINUTE if jump > timedelta(0) else walls[2]
    walls += [first + abs(jump) * k for k in (0, 0.5, 1)]
    if draw(st.integers(0, 9)) == 0:
        return name, draw(st.sampled_from(sorted(REF_ALIASES))), change
    # About half the jobs fixed-time, half real-time ('*' in the minute or hour field).
    minute_star, hour_star = draw(
        st.sampled_from([(False, False)] * 3 + [(True, False)] * 3 + [(False, True), (True, True)])
    )
    minute = field_text(draw, 0, 59, [w.minute for w in walls] + [0, 30], stars=minute_star)
    hour = field_text(draw, 0, 23, [w.hour for w in walls], stars=hour_star)
    dom = restricted(draw, 1, 31, [w.day for w in walls])
    month = restricted(draw, 1, 12, [w.month for w in walls], MONTHS)
    dow = restricted(draw, 0, 7, [w.isoweekday() % 7 for w in walls], DAYS)
    return name, f"{minute} {hour} {dom} {month} {dow}", change


@PROPERTY
@given(window_case(), st.data())
def test_slots_around_offset_changes_match_the_reference(
    case: tuple[str, str, datetime], data: st.DataObject
) -> None:
    name, expr, change = case
    job = ref_parse(expr)
    try:
        text = validate_cron(expr)
    except store.InvalidInput:
        assert job is None, expr
        event("refused by cron")
        return
    assert job is not None, expr
    tz = ZoneInfo(name)
    start, end = change - WINDOW, change + WINDOW
    expected = ref_slots(job, tz, start, end)
    event("real time" if job.real_time else "fixed time")
    event("no slot in the window" if not expected else "slots in the window")
    if change in expected and not job.matches(change.astimezone(tz).replace(tzinfo=None)):
        event("fixed time: run at the end of a gap")
    schedule = Schedule("cron", cron=text, tz=name)

    got = []
    current = next_slot(schedule, start)
    while current is not None and current <= end:
        got.append(current)
        current = next_slot(schedule, current)
    assert got == expected, (name, expr)

    for _ in range(3):
        after = start + timedelta(seconds=data.draw(st.floats(0, 2 * WINDOW.total_seconds())))
        i = bisect_right(expected, after)
        nxt = next_slot(schedule, after)
        assert nxt is not None
        if i < len(expected):
            assert nxt == expected[i], (name, expr, after)
        else:
            assert nxt > end, (name, expr, after)
    bounds = [*expected, change - timedelta(seconds=1), change, end]
    bounds += [b + timedelta(seconds=data.draw(st.integers(1, 120))) for b in bounds[:3]]
    for bound in (b for b in bounds if b <= end):  # the reference knows no slot after `end`
        before = expected[: bisect_right(expected, bound)]
        if before:
            assert latest_slot(schedule, expected[0], bound) == before[-1], (name, expr, bound)


@st.composite
def day_case(draw: st.DrawFn) -> tuple[str, date]:
    minute = draw(st.sampled_from(["0", "30", "59", "5,35"]))
    hour = draw(st.sampled_from(["0", "9", "23", "6-6", "1,13"]))
    dom = restricted(draw, 1, 31, [1, 15, 28, 29, 30, 31])
    month = restricted(draw, 1, 12, [1, 2, 12], MONTHS)
    dow = restricted(draw, 0, 7, [0, 1, 5, 6, 7], DAYS)
    first = draw(st.dates(date(2024, 1, 1), date(2031, 12, 1)))
    return f"{minute} {hour} {dom} {month} {dow}", first


@PROPERTY
@given(day_case())
def test_day_of_month_and_day_of_week_combine_as_in_vixie_cron(case: tuple[str, date]) -> None:
    expr, first = case
    job = ref_parse(expr)
    try:
        text = validate_cron(expr)
    except store.InvalidInput:
        assert job is None, expr
        return
    assert job is not None, expr
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = start + timedelta(days=62)
    expected = []
    for d in range(63):
        day = start + timedelta(days=d)
        for hour in sorted(job.fields[1]):
            for minute in sorted(job.fields[0]):
                slot = day.replace(hour=hour, minute=minute)
                if start < slot <= end and job.matches(slot.replace(tzinfo=None)):
                    expected.append(slot)
    schedule = Schedule("cron", cron=text)
    got = []
    current = next_slot(schedule, start)
    while current is not None and current <= end:
        got.append(current)
        current = next_slot(schedule, current)
    assert got == expected, expr


BAD_OR_ODD = ["60", "24", "0", "32", "13", "8", "?", "L", "5/10", "*/0", "5-2", "", "1,", "-1"]
GOOD = ["*", "*/5", "1", "7", "1-5", "3-3", "1-20/7", "mon", "mon-fri", "jan", "jan-mar", "*/2"]


@PROPERTY
@given(
    st.lists(st.sampled_from(GOOD + BAD_OR_ODD), min_size=4, max_size=6)
    | st.sampled_from([*REF_ALIASES, "@reboot", "@HOURLY", "@every"])
)
def test_validate_cron_accepts_exactly_what_crontab_accepts(value: list[str] | str) -> None:
    expr = value if isinstance(value, str) else " ".join(value)
    parts = expr.split()
    if len(parts) == 6:
        # A 6th field is croniter's seconds, outside crontab(5): the minute field's syntax.
        seconds = ref_parse(f"{parts[5]} 0 * * *")
        accepted_by_ref = ref_parse(" ".join(parts[:5])) is not None and seconds is not None
    else:
        accepted_by_ref = ref_parse(expr) is not None
    try:
        validate_cron(expr)
    except store.InvalidInput as exc:
        refusal = exc
    else:
        refusal = None
    assert (refusal is None) == accepted_by_ref, (expr, refusal)
    assert refusal is None or refusal.field == "cron"
