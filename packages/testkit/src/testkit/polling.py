"""Waiting for a condition with a deadline: tests never sleep a fixed time for something."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, Protocol, TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_S: Final = 10.0
INTERVAL_S: Final = 0.02


def wait_for(
    predicate: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT_S,
    what: str = "condition",
    *,
    interval: float = INTERVAL_S,
) -> T:
    """Poll `predicate` until it returns something truthy and return that; fail the test (an
    AssertionError naming `what`) when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Waiter(Protocol):
    def __call__(
        self,
        predicate: Callable[[], T],
        timeout: float = ...,
        what: str = "condition",
        *,
        interval: float = INTERVAL_S,
    ) -> T: ...


def waiter(default_timeout: float) -> Waiter:
    """`wait_for` with another default deadline, for a harness whose waits are longer."""

    def wait(
        predicate: Callable[[], T],
        timeout: float = default_timeout,
        what: str = "condition",
        *,
        interval: float = INTERVAL_S,
    ) -> T:
        return wait_for(predicate, timeout, what, interval=interval)

    return wait
