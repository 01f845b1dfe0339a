"""A terminal adapter (the example adapter, or the broken one) as a real process for the
checker's tests: its stdin is a FIFO, and `say_command` is the checker's --say that types a
line into it. Stopping closes the FIFO: the adapter reads end of input and exits."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Final

HERE = Path(__file__).resolve().parent
SAY_LINE: Final = HERE / "say_line.py"
STOP_TIMEOUT_S: Final = 10.0
USER: Final = "tester"
CHAT_JID: Final = f"term:{USER}"


class TerminalAdapter:
    def __init__(self, command: list[str], root: Path, gated_url: str, secret: str) -> None:
        self.command = command
        self.root = root
        self.gated_url = gated_url
        self.secret = secret
        self.fifo = root / "adapter-stdin"
        self.log_path = root / "adapter.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.holder: int | None = None

    @property
    def say_command(self) -> str:
        return shlex.join([sys.executable, str(SAY_LINE), str(self.fifo)])

    def start(self) -> TerminalAdapter:
        os.mkfifo(self.fifo)
        # A writer of our own: the adapter's open does not block, and it reads no end of
        # input between two --say commands.
        self.holder = os.open(self.fifo, os.O_RDWR)
        env = {**os.environ, "SWITCHBOARD_CHANNEL_SECRET": self.secret, "PYTHONUNBUFFERED": "1"}
        args = ["--gated", self.gated_url, "--listen", "127.0.0.1:0", "--user", USER]
        args += ["--state-dir", str(self.root / "adapter-state")]
        with self.fifo.open("rb") as stdin, self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.command, *args], stdin=stdin, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        return self

    def stop(self) -> int | None:
        """End its input and wait for it to exit (killed if it does not); its exit status."""
        if self.holder is not None:
            os.close(self.holder)
            self.holder = None
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        try:
            return proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
