"""Helpers shared by timed's process tests: polling with a deadline (`testkit`'s, 15 s by
default), stopping a daemon."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable

from testkit import waiter

StartTimed = Callable[..., subprocess.Popen[bytes]]


# timed runs tasks on real seconds: its waits get a longer default deadline.
wait_for = waiter(15.0)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM a daemon and return its exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)
