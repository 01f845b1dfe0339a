"""How pages show stored values to people; registered as Jinja filters (`when`, `seconds`)."""

from __future__ import annotations


def format_when(value: str | None, empty: str = "—") -> str:
    """Stored UTC text as `2026-11-23 09:47 UTC` for people."""
    return f"{value[:16].replace('T', ' ')} UTC" if value else empty


def format_seconds(value: int | None) -> str:
    """An interval for people: `90 s`, `5 min`, `2 h`, `1 d` (exact units only)."""
    if value is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size and value % size == 0:
            return f"{value // size} {unit}"
    return f"{value} s"
