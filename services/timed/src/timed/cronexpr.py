"""Cron expressions as crontab(5) (Vixie cron) reads them: parsing into value sets, the two flags
that decide daylight-saving and day-matching behaviour, and the normalised form given to
croniter (which then only ever does plain wall-clock arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Final

from store import InvalidInput

# croniter's order; an optional sixth field is seconds (croniter's convention, seconds last).
CRON_FIELDS: Final = ("minute", "hour", "day-of-month", "month", "day-of-week", "second")
# (lowest, highest) value a field may name; day-of-week 7 is Sunday, as 0.
FIELD_RANGES: Final = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7), (0, 59))
# What a `*` covers: day-of-week stops at 6 (7 would only repeat Sunday).
FULL_SETS: Final = tuple(
    frozenset(range(lo, 7 if i == 4 else hi + 1)) for i, (lo, hi) in enumerate(FIELD_RANGES)
)
MONTH_NAMES: Final = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
DAY_NAMES: Final = {
    name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
FIELD_NAMES: Final[tuple[dict[str, int], ...]] = ({}, {}, {}, MONTH_NAMES, DAY_NAMES, {})
# Vixie cron's aliases (crontab(5)); @reboot has no slot, so it is not accepted here.
ALIASES: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# The longest day each month can have (February: leap years).
MONTH_DAYS: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A parsed expression: the values each field admits, and how the job behaves."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    seconds: frozenset[int] | None  # None: a 5-field expression (second 0)
    # `*` in the minute or hour field (or @hourly): the job runs on real time through
    # daylight-saving changes instead of once per wall-clock time.
    real_time: bool
    # Day-of-month or day-of-week starts with `*`: a day must match both; otherwise either.
    days_and: bool

    def croniter_expr(self) -> tuple[str, bool]:
        """The expression and `day_or` that make croniter match exactly this spec's wall times."""
        minutes, hours, days, months = (
            compact(s, i) for i, s in enumerate((self.minutes, self.hours, self.days, self.months))
        )
        weekdays = compact(self.weekdays, 4)
        if not self.days_and and "*" in (days, weekdays):
            # Either field matching every day makes the OR match every day.
            days = weekdays = "*"
        fields = [minutes, hours, days, months, weekdays]
        if self.seconds is not None:
            fields.append(compact(self.seconds, 5))
        return " ".join(fields), not self.days_and


def compact(values: frozenset[int], index: int) -> str:
    """A field's values as croniter text with no `a-a` range: `*`, `*/n` or a list of runs."""
    full = FULL_SETS[index]
    if values == full:
        return "*"
    lo, hi = min(full), max(full)
    ordered = sorted(values)
    if ordered[0] == lo and len(ordered) > 1:
        step = ordered[1] - ordered[0]
        if ordered == list(range(lo, hi + 1, step)):
            return f"*/{step}"
    parts: list[str] = []
    start = prev = ordered[0]
    for v in [*ordered[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ",".join(parts)


def _value(token: str, index: int) -> int:
    """One number or name of field `index`; ValueError says why it is not one."""
    names = FIELD_NAMES[index]
    lo, hi = FIELD_RANGES[index]
    if token.lower() in names:
        return names[token.lower()]
    if not (token.isascii() and token.isdigit()):
        hint = " or a 3-letter name" if names else ""
        raise ValueError(f"{token!r} is not a number{hint}")
    value = int(token)
    if not lo <= value <= hi:
        raise ValueError(f"{value} is not in {lo}-{hi}")
    return value


def _field(part: str, index: int, text: str) -> frozenset[int]:
    """One field's values: a comma list of `*`, `a`, `a-b`, each range or `*` with `/step`."""
    field = CRON_FIELDS[index]
    lo, hi = FIELD_RANGES[index]
    bad = f"bad {field} field {part!r} in {text!r}"
    values: set[int] = set()
    for item in part.split(","):
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                raise InvalidInput("cron", f"{bad}: step {step_text!r} is not a positive number")
            step = int(step_text)
        if body == "*":
            first, last = lo, hi
        elif "-" in body:
            a, _, b = body.partition("-")
            if not a or not b:
                raise InvalidInput("cron", f"{bad}: {item!r} is not a range like 1-5")
            try:
                first, last = _value(a, index), _value(b, index)
            except ValueError as exc:
                raise InvalidInput("cron", f"{bad}: {exc}") from exc
            if first > last:
                raise InvalidInput("cron", f"{bad}: range {item!r} runs backwards")
        else:
            if slash:
                raise InvalidInput(
                    "cron", f"{bad}: a step follows a range or '*' ({body}-{hi}/{step_text}?)"
                )
            if not body:
                raise InvalidInput("cron", f"{bad}: empty list item")
            try:
                first = last = _value(body, index)
            except ValueError as exc:
                raise InvalidInput("cron", f"{bad}: {exc}") from exc
        values.update(range(first, last + 1, step))
    if index == 4 and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


@lru_cache(maxsize=4096)
def parse_cron(expr: str) -> CronSpec:
    """`expr` (whitespace already collapsed) as a CronSpec; InvalidInput names the bad field."""
    text = expr
    if text.startswith("@"):
        alias = ALIASES.get(text.lower())
        if alias is None:
            raise InvalidInput("cron", f"unknown cron alias {text!r} (one of {', '.join(ALIASES)})")
        return replace(parse_cron(alias), text=text)
    parts = text.split(" ")
    if len(parts) not in (5, 6):
        raise InvalidInput(
            "cron", f"{text!r} has {len(parts)} fields; expected 5 (m h dom mon dow) or 6 (+sec)"
        )
    sets = [_field(part, i, text) for i, part in enumerate(parts)]
    spec = CronSpec(
        text,
        sets[0],
        sets[1],
        sets[2],
        sets[3],
        sets[4],
        sets[5] if len(sets) == 6 else None,
        real_time="*" in parts[0] or "*" in parts[1],
        days_and=parts[2].startswith("*") or parts[4].startswith("*"),
    )
    if spec.days_and and not any(d <= MONTH_DAYS[m - 1] for m in spec.months for d in spec.days):
        raise InvalidInput("cron", f"{text!r} never matches: no month has such a day")
    return spec


def validate_cron(expr: str) -> str:
    """A 5-field cron expression (optional 6th = seconds) or an @alias, whitespace collapsed;
    InvalidInput names the offending field."""
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidInput("cron", "must be a cron expression like '30 2 * * *'")
    text = " ".join(expr.split())
    parse_cron(text)
    return text
