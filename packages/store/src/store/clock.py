"""Time helpers: aware UTC datetimes in code, ISO-8601 `...Z` text with milliseconds in the db."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from store.errors import InvalidInput

# Timestamps from outside must fall in [2000-01-01, 2100-01-01) UTC: earlier or later ones are
# typos or clock bugs, and one of them would pin a chat's `last_message_at` forever.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)


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


def normalise_iso(text: str) -> str:
    """An outside ISO-8601 time with a zone, re-rendered as stored text (UTC, `...Z`, ms), so
    that text order is time order. ValueError when it is not one, or outside EARLIEST..LATEST."""
    if not text.isascii() or len(text) > 64:
        raise ValueError(f"not an ISO-8601 time: {text[:64]!r}")
    try:
        dt = parse_iso(text)
    except OverflowError:
        raise ValueError(f"time out of range: {text!r}") from None
    if not EARLIEST <= dt < LATEST:
        raise ValueError(f"{text!r} is outside {EARLIEST.year}..{LATEST.year - 1}")
    return iso(dt)


def now_iso() -> str:
    """The current time as stored text."""
    return iso(utcnow())


def day_or_time(text: str, field: str = "since") -> datetime:
    """`2026-12-01` (that day's start, UTC) or an ISO-8601 time with a zone, from outside (a
    CLI option, a form field); InvalidInput naming `field` for anything else."""
    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        return parse_iso(normalise_iso(text))
    except ValueError:
        raise InvalidInput(
            field, f"{text[:40]!r} is not a date (2026-12-01) or a time with a zone"
        ) from None
