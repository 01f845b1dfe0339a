"""Helpers shared by timed's process tests: polling with a deadline, stopping a daemon."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

StartTimed = Callable[..., subprocess.Popen[bytes]]


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, poll: float = 0.02) -> None:
    """Poll `predicate` until truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(poll)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM a daemon and return its exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)
