"""Pieces of SQL text built from how many values there are (never from the values, which are
always parameters): the `IN (?, ?, …)` list, the seconds between two stored times."""

from __future__ import annotations

from typing import Final

# The seconds from one stored time (ISO-8601 UTC text) to another, NULL when either is missing;
# `.format(start=..., end=...)` with column names.
SECONDS_SQL: Final = "(julianday({end}) - julianday({start})) * 86400.0"


def and_in(column: str, values: list[str]) -> str:
    """` AND column IN (?, …)` with one placeholder per value."""
    return f" AND {column} IN ({','.join('?' * len(values))})"
