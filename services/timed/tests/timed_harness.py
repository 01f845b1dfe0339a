"""Helpers shared by timed's process tests: polling with a deadline (`testkit`'s, 15 s by
default), stopping a daemon, freezing one in the middle of a burst."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

from testkit import waiter

StartTimed = Callable[..., subprocess.Popen[bytes]]


# timed runs tasks on real seconds: its waits get a longer default deadline.
wait_for = waiter(15.0)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM a daemon and return its exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)


def freeze_after(proc: subprocess.Popen[bytes], count: Callable[[], int], at_least: int) -> int:
    """Let a daemon run in short slices, SIGSTOPped in between, until `count()` reaches
    `at_least`; return that count with the daemon left stopped (wherever it was: perhaps
    inside a transaction). A burst that takes a fraction of a second cannot finish unseen
    while the test itself is descheduled, because the daemon only runs while we watch."""
    deadline = time.monotonic() + 15.0
    while True:
        proc.send_signal(signal.SIGSTOP)
        seen = count()
        if seen >= at_least:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"only {seen} of {at_least} after 15 s")
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.002)
