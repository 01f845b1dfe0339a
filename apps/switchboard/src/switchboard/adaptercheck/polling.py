"""Waiting for another process with a deadline: the checker polls, it never sleeps a guess."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, TypeVar

T = TypeVar("T")

INTERVAL_S: Final = 0.05


def wait_until(predicate: Callable[[], T | None], timeout: float) -> T | None:
    """Poll `predicate` until it returns something truthy (returned) or `timeout` seconds
    pass (None, after one last try)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value or None
        time.sleep(INTERVAL_S)
