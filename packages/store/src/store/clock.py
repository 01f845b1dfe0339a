"""Time helpers: aware UTC datetimes in code, ISO-8601 `...Z` text with milliseconds in the db."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Format an aware datetime as stored text: `2026-11-23T05:54:53.123Z`."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime given; use an aware datetime")
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parse stored ISO-8601 text (with `Z` or an offset) into an aware UTC datetime."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without timezone: {text!r}")
    return dt.astimezone(UTC)


def now_iso() -> str:
    """The current time as stored text."""
    return iso(utcnow())
