"""Pieces of SQL text built from how many values there are (never from the values, which are
always parameters): the `IN (?, ?, …)` list."""

from __future__ import annotations


def and_in(column: str, values: list[str]) -> str:
    """` AND column IN (?, …)` with one placeholder per value."""
    return f" AND {column} IN ({','.join('?' * len(values))})"
