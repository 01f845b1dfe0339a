"""A platform adapter (`switchboard-<platform>`) as a real process for the tests: the start,
log, wait and stop every one of them shares, and what the tests share besides (a free port,
the channel secret). A subclass names its program and gives its token variables and flags.
A module of its own: test modules cannot import conftest under --import-mode=importlib once
another test tree's conftest is loaded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import ClassVar, Final, Self

from testkit import wait_for

BIN: Final = Path(sys.executable).parent
SECRET: Final = "platforms-test-channel-secret"
STOP_TIMEOUT_S: Final = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PlatformAdapterProcess:
    """One adapter, pointed at a gated, its state and log in `root`."""

    program: ClassVar[str]  # "switchboard-slack"
    files: ClassVar[str]  # its state is root/<files>-state, its log root/<files>-adapter.log
    wait_s: ClassVar[float] = 20.0  # wait_logged's default deadline

    def __init__(self, root: Path, gated_url: str, token: str) -> None:
        self.root = root
        self.gated_url = gated_url
        self.token = token
        self.port = free_port()
        self.state_dir = root / f"{self.files}-state"
        self.log_path = root / f"{self.files}-adapter.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """Its own variables: its token(s), and where its platform is when a flag cannot say."""
        raise NotImplementedError

    def options(self) -> list[str]:
        """Its flags besides --gated, --listen, --state-dir and --log-level."""
        return []

    def start(self) -> Self:
        env = {
            **os.environ,
            **self.environment(),
            "SWITCHBOARD_CHANNEL_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("NOTIFY_SOCKET", None)
        argv = [str(BIN / self.program), "--gated", self.gated_url]
        argv += ["--listen", f"127.0.0.1:{self.port}", "--state-dir", str(self.state_dir)]
        argv += ["--log-level", "DEBUG", *self.options()]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_logged(self, text: str, timeout: float | None = None, count: int = 1) -> None:
        """Until `text` is in its log `count` times (fails at once when it exits first)."""

        def seen() -> bool:
            assert self.proc is not None
            found = self.log().count(text) >= count
            if self.proc.poll() is not None and not found:
                raise AssertionError(f"adapter exited {self.proc.returncode}:\n{self.log()}")
            return found

        wait_for(seen, self.wait_s if timeout is None else timeout, f"{text!r} in its log")

    def stop(self) -> int:
        """SIGTERM; its exit code. One that ignores SIGTERM is killed, and the test fails."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the adapter ignored SIGTERM:\n{self.log()}") from None
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
