"""`switchboard up` as a real process for the tests that run it: its output collected line by
line (stdout and stderr together), waited on by pattern with a deadline."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


@dataclass
class UpProcess:
    """A running `switchboard up` and everything it printed so far."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    eof: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, args: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> UpProcess:
        """`switchboard up ARGS` in `cwd` with exactly `env`; its output read as it comes."""
        proc = subprocess.Popen(
            [str(BIN / "switchboard"), "up", *args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        up = cls(proc)
        threading.Thread(target=up._pump, daemon=True).start()
        return up

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
        self.eof.set()

    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for_banner(self, timeout: float = 60) -> None:
        """Until the whole start-up banner is printed (its last line is the stop hint)."""
        self.wait_for_line(r"Switchboard is up", timeout=timeout)
        self.wait_for_line(r"\bstop:\s+Ctrl-C", timeout=timeout)

    def wait_for_line(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first printed line matching `pattern` (fails at the deadline or on exit)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            finished = self.eof.is_set()
            for line in list(self.lines):
                if m := rx.search(line):
                    return m
            if finished:
                raise AssertionError(f"switchboard up exited {self.proc.poll()}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout} s:\n{self.text()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM if still running, SIGKILL after `timeout`; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
