"""The pure slot function: DST transitions, intervals, one-shots and input validation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import store
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st
from timed.slots import (
    Schedule,
    latest_slot,
    next_slot,
    next_slots,
    parse_every,
    validate_cron,
    zone,
)

PRAGUE = ZoneInfo("Europe/Prague")
NEW_YORK = ZoneInfo("America/New_York")


def slots(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    current = next_slot(schedule, start)
    while current is not None and current <= end:
        out.append(current)
        current = next_slot(schedule, current)
    return out


def local(dt: datetime, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%m-%d %H:%M %Z")


def test_prague_spring_forward_missing_0230_fires_once_at_0300() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    daily = Schedule("cron", cron="30 2 * * *", tz="Europe/Prague")
    got = slots(daily, datetime(2026, 3, 27, 12, tzinfo=UTC), datetime(2026, 3, 31, 12, tzinfo=UTC))
    assert [local(s, PRAGUE) for s in got] == [
        "03-28 02:30 CET",
        "03-29 03:00 CEST",  # a fixed-time job runs once, right after the gap
        "03-30 02:30 CEST",
        "03-31 02:30 CEST",
    ]
    # Never lost, never doubled: one fire per day, each a distinct instant.
    assert len({s.date() for s in got}) == len(got)


def test_prague_fall_back_repeated_0230_fires_exactly_once() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    daily = Schedule("cron", cron="30 2 * * *", tz="Europe/Prague")
    got = slots(
        daily, datetime(2026, 10, 23, 12, tzinfo=UTC), datetime(2026, 10, 27, 12, tzinfo=UTC)
    )
    assert [local(s, PRAGUE) for s in got] == [
        "10-24 02:30 CEST",
        "10-25 02:30 CEST",  # the first pass; the CET repeat is skipped
        "10-26 02:30 CET",
        "10-27 02:30 CET",
    ]


def test_fall_back_started_inside_repeated_hour_does_not_refire() -> None:
    daily = Schedule("cron", cron="30 2 * * *", tz="Europe/Prague")
    # 02:15 CET, in the second pass, after 02:30 CEST already fired.
    after = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)
    nxt = next_slot(daily, after)
    assert nxt is not None
    assert local(nxt, PRAGUE) == "10-26 02:30 CET"


def test_hour_wildcard_job_follows_real_time_through_repeated_hour() -> None:
    half_hourly = Schedule("cron", cron="*/30 * * * *", tz="Europe/Prague")
    got = slots(
        half_hourly,
        datetime(2026, 10, 24, 23, 45, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
    )
    # Every 30 real minutes: both passes of the repeated hour are real, distinct instants.
    assert [s.strftime("%H:%M") for s in got] == ["00:00", "00:30", "01:00", "01:30", "02:00"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        # Spring forward (2026-03-08): EST (-5) before, EDT (-4) after.
        (datetime(2026, 3, 4, 12, tzinfo=UTC), datetime(2026, 3, 11, 20, tzinfo=UTC)),
        # Fall back (2026-11-01): EDT before, EST after.
        (datetime(2026, 10, 28, 12, tzinfo=UTC), datetime(2026, 11, 4, 20, tzinfo=UTC)),
    ],
    ids=["march", "november"],
)
def test_new_york_weekday_0900_is_0900_local_on_both_sides(start: datetime, end: datetime) -> None:
    weekdays = Schedule("cron", cron="0 9 * * 1-5", tz="America/New_York")
    got = slots(weekdays, start, end)
    assert len(got) == 6
    for s in got:
        there = s.astimezone(NEW_YORK)
        assert (there.hour, there.minute) == (9, 0)
        assert there.weekday() < 5
    offsets = {s.astimezone(NEW_YORK).utcoffset() for s in got}
    assert offsets == {timedelta(hours=-5), timedelta(hours=-4)}


def test_seconds_field_is_sixth() -> None:
    every_2s = Schedule("cron", cron="* * * * * */2")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_slot(every_2s, start) == start + timedelta(seconds=2)


def test_interval_slots_are_anchored_on_the_previous_slot() -> None:
    every = Schedule("interval", interval_s=900)
    start = datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC)
    assert next_slot(every, start) == start + timedelta(minutes=15)


def test_one_shot_has_one_slot() -> None:
    once = Schedule("once", run_at="2026-05-01T10:00:00.000Z")
    before = datetime(2026, 4, 30, tzinfo=UTC)
    assert next_slot(once, before) == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert next_slot(once, datetime(2026, 5, 1, 10, tzinfo=UTC)) is None


def test_latest_slot_finds_the_last_slot_before_a_bound() -> None:
    hourly = Schedule("cron", cron="0 * * * *")
    first = datetime(2026, 1, 1, 0, tzinfo=UTC)
    assert latest_slot(hourly, first, datetime(2026, 1, 3, 5, 59, tzinfo=UTC)) == datetime(
        2026, 1, 3, 5, tzinfo=UTC
    )
    every = Schedule("interval", interval_s=10)
    assert latest_slot(every, first, first + timedelta(seconds=95)) == first + timedelta(seconds=90)


@pytest.mark.parametrize(
    ("expr", "field"),
    [
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 32 * *", "day-of-month"),
        ("* * * 13 *", "month"),
        ("* * * * 9", "day-of-week"),
        ("* * * * * 99", "second"),
    ],
)
def test_bad_cron_names_the_field(expr: str, field: str) -> None:
    with pytest.raises(store.InvalidInput, match=f"bad {field} field"):
        validate_cron(expr)


@pytest.mark.parametrize("expr", ["", "* * *", "a b c d e", "* * * * * * *"])
def test_malformed_cron_is_rejected(expr: str) -> None:
    with pytest.raises(store.InvalidInput, match="cron"):
        validate_cron(expr)


def test_unknown_zone_is_rejected() -> None:
    with pytest.raises(store.InvalidInput, match="tz: unknown timezone 'Mars/Olympus'"):
        zone("Mars/Olympus")


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("90s", 90), ("2h", 7200), ("10", 10)])
def test_every_parses_units(text: str, seconds: int) -> None:
    assert parse_every(text) == seconds


def test_every_above_maximum_is_rejected() -> None:
    with pytest.raises(store.InvalidInput, match=r"every: .* longer than the maximum"):
        parse_every("99999999999999999999d")


@pytest.mark.parametrize("text", ["9s", "0m", "5"])
def test_every_below_minimum_is_rejected(text: str) -> None:
    with pytest.raises(store.InvalidInput, match=r"every: .* shorter than the minimum 10s"):
        parse_every(text)


@given(st.text(max_size=12))
def test_every_never_crashes(text: str) -> None:
    try:
        seconds = parse_every(text)
    except store.InvalidInput as exc:
        seconds = 10 if exc.field == "every" else -1
    assert seconds >= 10


@given(
    st.sampled_from(["Europe/Prague", "America/New_York", "Australia/Lord_Howe", "UTC"]),
    st.sampled_from(["30 2 * * *", "0 9 * * 1-5", "*/15 * * * *", "0 0 1 * *"]),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1)),
)
def test_slots_strictly_increase_and_match_the_local_wall_clock(
    tz: str, expr: str, naive: datetime
) -> None:
    schedule = Schedule("cron", cron=expr, tz=tz)
    there = ZoneInfo(tz)
    current = naive.replace(tzinfo=UTC)
    for _ in range(3):
        nxt = next_slot(schedule, current)
        assert nxt is not None
        assert nxt > current
        wall = nxt.astimezone(there)
        if not croniter.match(expr, wall.replace(tzinfo=None)):
            # Only a wall time that fell into a spring-forward gap may be moved, and only to
            # the first instant after it.
            before = (nxt - timedelta(seconds=1)).astimezone(there)
            assert before.utcoffset() != wall.utcoffset()
        current = nxt


CRON_ATOMS = ["*", "*/5", "0", "7", "1-5", "59", "60", "32", "mon", "jan", "?", "L", "-1", "a"]


@given(st.lists(st.sampled_from(CRON_ATOMS), min_size=0, max_size=7) | st.text(max_size=30))
def test_validate_cron_accepts_or_names_a_reason(value: list[str] | str) -> None:
    expr = " ".join(value) if isinstance(value, list) else value
    try:
        text = validate_cron(expr)
    except store.InvalidInput as exc:
        field = exc.field
        text = ""
    else:
        field = ""
    if not text:
        assert field == "cron"
        return
    schedule = Schedule("cron", cron=text)
    assert next_slot(schedule, datetime(2026, 1, 1, tzinfo=UTC)) is not None


# The four departures from cron of issue 21, one example each.


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        ("0 9-9 * * *", datetime(2026, 1, 1, tzinfo=UTC), ["01-01 09:00", "01-02 09:00"]),
        ("0 9 * * 1-1", datetime(2026, 1, 1, tzinfo=UTC), ["01-05 09:00", "01-12 09:00"]),
        ("30 9 * jan-jan *", datetime(2026, 1, 31, 10, tzinfo=UTC), ["01-01 09:30"]),
    ],
)
def test_single_value_range_is_that_value(expr: str, start: datetime, expected: list[str]) -> None:
    schedule = Schedule("cron", cron=validate_cron(expr))
    got = [s.strftime("%m-%d %H:%M") for s in next_slots(schedule, start, len(expected))]
    assert got == expected
    if expr.endswith("jan-jan *"):
        assert next_slots(schedule, start, 1)[0].year == 2027


def test_real_time_job_runs_in_both_passes_of_a_half_hour_repeat() -> None:
    # Australia/Lord_Howe 2025-04-06 02:00 (+11) goes back to 01:30 (+10:30) at 15:00Z, so
    # 01:40 happens at 14:40Z and again at 15:10Z.
    every_20 = Schedule("cron", cron="*/20 * * * *", tz="Australia/Lord_Howe")
    assert next_slot(every_20, datetime(2025, 4, 5, 14, 45, tzinfo=UTC)) == datetime(
        2025, 4, 5, 15, 10, tzinfo=UTC
    )


def test_real_time_job_runs_in_both_passes_of_a_45_minute_offset_repeat() -> None:
    # Pacific/Chatham 2025-04-06 03:45 (+13:45) goes back to 02:45 (+12:45) at 14:00Z; 02:50
    # (an even hour) happens at 13:05Z and again at 14:05Z.
    job = Schedule("cron", cron="40,50 */2 * * *", tz="Pacific/Chatham")
    got = slots(
        job, datetime(2025, 4, 5, 12, 30, tzinfo=UTC), datetime(2025, 4, 5, 14, 30, tzinfo=UTC)
    )
    assert [s.strftime("%H:%M") for s in got] == ["12:55", "13:05", "14:05"]


def test_gap_run_depends_on_a_star_in_minute_or_hour_not_on_the_values() -> None:
    # Europe/Prague 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z); 02:15 does not exist.
    start, end = datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 2, 30, tzinfo=UTC)

    def runs(expr: str) -> list[str]:
        job = Schedule("cron", cron=expr, tz="Europe/Prague")
        return [local(s, PRAGUE) for s in slots(job, start, end)]

    # Every hour named, no '*': a fixed-time job, so the skipped 02:15 runs at 03:00.
    assert runs("15 0-23 * * *") == [
        "03-29 01:15 CET",
        "03-29 03:00 CEST",
        "03-29 03:15 CEST",
        "03-29 04:15 CEST",
    ]
    # '*' in the hour field: real time, nothing caught up, whatever the step.
    assert runs("15 * * * *") == ["03-29 01:15 CET", "03-29 03:15 CEST", "03-29 04:15 CEST"]
    assert runs("15 */2 * * *") == ["03-29 04:15 CEST"]
    # ... and in autumn the fixed-time job drops the second pass of 02:15.
    autumn = slots(
        Schedule("cron", cron="15 0-23 * * *", tz="Europe/Prague"),
        datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 30, tzinfo=UTC),
    )
    assert [local(s, PRAGUE) for s in autumn] == ["10-25 02:15 CEST", "10-25 03:15 CET"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # Day-of-week starts with '*': both fields must match, so day-of-week alone decides.
        ("0 0 1-31 * */2", ["01-03 Sat", "01-04 Sun", "01-06 Tue", "01-08 Thu"]),
        # Day-of-month starts with '*': both must match (odd days that are weekdays).
        ("0 0 */2 * 1-5", ["01-05 Mon", "01-07 Wed", "01-09 Fri", "01-13 Tue"]),
        # Neither starts with '*': either may match, and 1-31 matches every day.
        ("0 0 1-31 * 1-5", ["01-02 Fri", "01-03 Sat", "01-04 Sun", "01-05 Mon"]),
        ("0 0 13 * 5", ["01-02 Fri", "01-09 Fri", "01-13 Tue", "01-16 Fri"]),
    ],
)
def test_day_fields_combine_by_their_leading_star(expr: str, expected: list[str]) -> None:
    schedule = Schedule("cron", cron=expr)
    got = next_slots(schedule, datetime(2026, 1, 1, tzinfo=UTC), 4)
    assert [s.strftime("%m-%d %a") for s in got] == expected


def test_fixed_time_job_with_several_times_in_a_gap_runs_once_after_it() -> None:
    # Antarctica/Troll 2025-03-30 01:00Z: +00 becomes +02, so 01:00-02:59 local never happen.
    job = Schedule("cron", cron="0,30 1,2 * * *", tz="Antarctica/Troll")
    got = slots(job, datetime(2025, 3, 29, 12, tzinfo=UTC), datetime(2025, 3, 30, 12, tzinfo=UTC))
    assert got == [datetime(2025, 3, 30, 1, tzinfo=UTC)]


def test_apia_missing_day_costs_no_minute_by_minute_walk() -> None:
    # Pacific/Apia skipped 2011-12-30: 23:59:59 -10 on the 29th was followed by 00:00 +14 on
    # the 31st (10:00Z). Every-minute jobs go straight on; a daily job runs once for the day.
    minutely = Schedule("cron", cron="* * * * *", tz="Pacific/Apia")
    before = datetime(2011, 12, 30, 9, 59, 30, tzinfo=UTC)
    assert next_slot(minutely, before) == datetime(2011, 12, 30, 10, tzinfo=UTC)
    assert latest_slot(minutely, datetime(2011, 12, 30, 9, tzinfo=UTC), before) == datetime(
        2011, 12, 30, 9, 59, tzinfo=UTC
    )
    friday = Schedule("cron", cron="0 9 * * fri", tz="Pacific/Apia")  # the 30th was a Friday
    assert next_slot(friday, datetime(2011, 12, 28, tzinfo=UTC)) == datetime(
        2011, 12, 30, 10, tzinfo=UTC
    )


def test_seconds_job_in_a_gap_runs_once_after_it() -> None:
    job = Schedule("cron", cron="30 2 * * * */20", tz="Europe/Prague")
    got = slots(job, datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert got == [datetime(2026, 3, 29, 1, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("5/10 * * * *", "a step follows a range or '*'"),
        ("0 5-2 * * *", "runs backwards"),
        ("0 0 L * *", "is not a number"),
        ("0 0 ? * *", "is not a number"),
        ("0 0 * * mon#2", "is not a number"),
        ("0 0 30 2 *", "never matches"),
        ("@reboot", "unknown cron alias"),
    ],
)
def test_cron_outside_crontab5_is_rejected_with_the_reason(expr: str, reason: str) -> None:
    with pytest.raises(store.InvalidInput, match=re.escape(reason)):
        validate_cron(expr)
