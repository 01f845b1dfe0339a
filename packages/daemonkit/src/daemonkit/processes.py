"""Stopping a child process: SIGTERM, a grace period, then SIGKILL. One helper for every
place that runs a throw-away process (the conformance kit's gated, the test stand-ins)."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_process(proc: subprocess.Popen[Any], timeout: float) -> int:
    """SIGTERM `proc` and wait up to `timeout` seconds; SIGKILL it when it is still there.
    Its exit code (negative: the signal that ended it); a process already gone is only reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
