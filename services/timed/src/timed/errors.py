"""Errors timed raises on purpose (bad input is `store.InvalidInput`, naming the field)."""

from __future__ import annotations

from store import NotFound


class TaskNotFound(NotFound):
    """No scheduled task has the id the caller named."""
