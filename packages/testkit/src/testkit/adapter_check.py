"""`AdapterCheck`: `switchboard-adapter-check --json` as a process for a test, its throw-away
gated on a free port: `wait_gated()` to start the adapter under test after it, `result()` for
the exit status and the rows by rule, with what to show when an assertion fails."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from testkit.polling import wait_for
from testkit.synapse import free_port

CHECKER: Final = Path(sys.executable).parent / "switchboard-adapter-check"
RESULT_TIMEOUT_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: int
    rows: dict[str, dict[str, str]]  # rule -> {"rule", "result", "detail"}
    shown: str  # the checker's output and the adapter's log, for assertion messages

    def results(self) -> dict[str, str]:
        """rule -> PASS / FAIL / n/a."""
        return {rule: row["result"] for rule, row in self.rows.items()}


class AdapterCheck:
    """The checker, started at once; `kill()` in a `finally` (a no-op once it ended)."""

    def __init__(
        self,
        *,
        secret: str,
        say: str,
        chat_jid: str,
        port: int | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.url = f"http://127.0.0.1:{port or free_port()}"
        command = [str(CHECKER), self.url, "--secret", secret, "--say", say]
        command += ["--chat", chat_jid, "--timeout", str(timeout), "--json"]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def gated_up(self) -> bool:
        if self.proc.poll() is not None:
            out, err = self.proc.communicate()
            raise AssertionError(f"the checker exited {self.proc.returncode}:\n{err}{out}")
        try:
            return httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_gated(self, timeout: float = 30) -> None:
        """Until the checker's throw-away gated answers (the adapter can register now)."""
        wait_for(self.gated_up, timeout, "the checker's throw-away gated")

    def result(self, adapter_log: Callable[[], str] = str) -> CheckResult:
        """Wait for the checker to end; `adapter_log()` is read then, for `shown`."""
        out, err = self.proc.communicate(timeout=RESULT_TIMEOUT_S)
        shown = f"checker stderr:\n{err}\nchecker stdout:\n{out}\nadapter log:\n{adapter_log()}"
        rows = {row["rule"]: row for row in json.loads(out)} if out.strip() else {}
        return CheckResult(self.proc.returncode, rows, shown)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
