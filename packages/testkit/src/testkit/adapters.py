"""`StandinAdapter`: the stand-in adapter process (`testkit.adapter_server`) seen from a test:
start and stop it (again on the same port), read what gated sent it, switch its failure mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import httpx
from daemonkit.processes import stop_process

from testkit.adapter_server import STAMP_KEY, typing_record

START_TIMEOUT_S: Final = 10.0
STOP_TIMEOUT_S: Final = 10.0


class StandinAdapter:
    """A real adapter process on 127.0.0.1. `start()` returns once it listens; a failed start
    leaves no process behind. Use as a context manager, or call `stop()` in a `finally`."""

    def __init__(
        self,
        record: Path,
        *,
        port: int = 0,
        delay: float = 0.0,
        stamp: bool = False,
        secret: str | None = None,
    ) -> None:
        self.record = record
        self.port = port
        self.delay = delay
        self.stamp = stamp
        self.secret = secret  # protocol 1.1: every call must carry it
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "testkit.adapter_server", "--record", str(self.record)]
        cmd += ["--port", str(self.port)]
        if self.delay:
            cmd += ["--delay", str(self.delay)]
        if self.stamp:
            cmd.append("--stamp")
        if self.secret:
            cmd += ["--secret", self.secret]
        return cmd

    def start(self) -> StandinAdapter:
        """Start the process (on the port it had before, if any) and wait until it listens."""
        self.record.touch()
        proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
        )
        self.proc = proc
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "" when the process died first
            if not line.startswith("PORT "):
                raise AssertionError(f"stand-in adapter did not start: {line!r}")
            self.port = int(line.split()[1])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the process (killed if it does not exit in time); the port is kept."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        stop_process(proc, STOP_TIMEOUT_S)
        if proc.stdout is not None:
            proc.stdout.close()

    def kill(self) -> None:
        """SIGKILL, as a crashing platform would go (no clean shutdown)."""
        if self.proc is not None:
            self.proc.kill()
        self.stop()

    def __enter__(self) -> StandinAdapter:
        return self if self.proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def healthy(self) -> bool:
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        try:
            return httpx.get(f"{self.url}/health", headers=headers, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def control(self, **state: Any) -> None:
        """Switch the failure mode: `mode="500"|"400"|"429"|"503"|"ok"`, `ok_budget=N`,
        `retry_after="3"` (the Retry-After of a 429/503)."""
        httpx.post(f"{self.url}/control", json=state, timeout=5).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/stats", timeout=5).json())

    def received(self) -> list[tuple[float, dict[str, Any]]]:
        """Every accepted /send body with its arrival time (monotonic; 0.0 without `stamp`)."""
        if not self.record.exists():
            return []
        lines = [json.loads(line) for line in self.record.read_text().splitlines() if line]
        return [(float(body.pop(STAMP_KEY, 0.0)), body) for body in lines]

    def sends(self, chat_jid: str | None = None) -> list[dict[str, Any]]:
        """Every accepted /send body so far (optionally for one chat)."""
        return [b for _, b in self.received() if chat_jid is None or b["chat_jid"] == chat_jid]

    def typings(self) -> list[tuple[float, dict[str, Any]]]:
        """Every /typing body a 1.1 stand-in got, with its arrival time (monotonic)."""
        path = typing_record(self.record)
        if not path.exists():
            return []
        lines = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [(float(body.pop(STAMP_KEY)), body) for body in lines]
