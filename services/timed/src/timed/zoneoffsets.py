"""A zone's UTC offset changes, found through zoneinfo and cached per zone and year: the instants
where the wall clock jumps (a spring-forward gap) or goes back (a repeated interval)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

# Offsets are sampled this far apart, then bisected to the second. Two changes that cancel out
# within one step would be missed; no zone in the tz database has such a pair.
SAMPLE_S: Final = 12 * 3600
FIRST_YEAR: Final = 1
LAST_YEAR: Final = 9998


def offset_at(tz: ZoneInfo, t: int) -> int:
    """The zone's UTC offset in seconds at POSIX second `t`."""
    off = datetime.fromtimestamp(t, tz).utcoffset()
    assert off is not None
    return int(off.total_seconds())


def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


def _year_of(t: int) -> int:
    return datetime.fromtimestamp(t, UTC).year


@lru_cache(maxsize=8192)
def year_transitions(tz: ZoneInfo, year: int) -> tuple[int, ...]:
    """Every instant T with `offset(T) != offset(T - 1)`, for year_start < T <= next year_start."""
    start, end = _year_start(year), _year_start(year + 1)
    found: list[int] = []
    t, off = start, offset_at(tz, start)
    while t < end:
        step_end = min(t + SAMPLE_S, end)
        while offset_at(tz, step_end) != off:
            # The first second in (t, step_end] whose offset is not `off`.
            lo, hi = t, step_end
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset_at(tz, mid) == off:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            t, off = hi, offset_at(tz, hi)
        t = step_end
    return tuple(found)


def next_transition(tz: ZoneInfo, t: int, limit: int) -> int | None:
    """The first offset change in (t, limit], or None."""
    for year in range(max(FIRST_YEAR, _year_of(t)), min(LAST_YEAR, _year_of(limit)) + 1):
        found = year_transitions(tz, year)
        i = bisect_right(found, t)
        if i < len(found):
            return found[i] if found[i] <= limit else None
    return None


def prev_transition(tz: ZoneInfo, t: int, floor: int) -> int | None:
    """The last offset change in (floor, t], or None."""
    for year in range(min(LAST_YEAR, _year_of(t)), max(FIRST_YEAR, _year_of(floor)) - 1, -1):
        found = year_transitions(tz, year)
        i = bisect_left(found, t + 1)
        if i > 0:
            return found[i - 1] if found[i - 1] > floor else None
    return None
