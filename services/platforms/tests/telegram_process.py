"""`switchboard-telegram` as a real process for the adapter's tests, and what those tests
share (a free port, the channel secret). A module of its own: test modules cannot import
conftest under --import-mode=importlib once another test tree's conftest is loaded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from telegram_standin import TelegramStandin
from testkit import wait_for

BIN = Path(sys.executable).parent
TOKEN = "123456:TEST-standin-token-abcdef"
SECRET = "platforms-test-channel-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AdapterProcess:
    """`switchboard-telegram` pointed at a stand-in Telegram and a gated."""

    def __init__(self, root: Path, telegram: TelegramStandin, gated_url: str) -> None:
        self.root = root
        self.telegram = telegram
        self.gated_url = gated_url
        self.port = free_port()
        self.state_dir = root / "tg-state"
        self.log_path = root / "telegram-adapter.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = TOKEN

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AdapterProcess:
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": self.token,
            "SWITCHBOARD_CHANNEL_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("NOTIFY_SOCKET", None)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "switchboard-telegram"),
                    "--gated",
                    self.gated_url,
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--state-dir",
                    str(self.state_dir),
                    "--api-url",
                    self.telegram.api_url,
                    "--file-url",
                    self.telegram.file_url,
                    "--poll-timeout",
                    "1",
                    "--log-level",
                    "DEBUG",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_logged(self, text: str, timeout: float = 20) -> None:
        def seen() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None and text not in self.log():
                raise AssertionError(f"adapter exited {self.proc.returncode}:\n{self.log()}")
            return text in self.log()

        wait_for(seen, timeout, f"{text!r} in the adapter's log")

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the adapter ignored SIGTERM:\n{self.log()}") from None
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
