"""Fixtures for the adapters' tests: the Telegram stand-in process, gated's v1.1 channel API
in-process (testkit.GatedStandin), `switchboard-telegram` as a real process, and
`matrix_human.py` (on sys.path here) playing the person on a real Synapse (the `synapse`
fixture of testkit.synapse_fixture)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from testkit import GatedStandin, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parent))

from discord_standin import DiscordStandin
from telegram_standin import TelegramStandin

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


@pytest.fixture
def telegram(tmp_path: Path) -> Iterator[TelegramStandin]:
    standin = TelegramStandin(TOKEN, tmp_path).start()
    yield standin
    standin.stop()


@pytest.fixture
def gated11() -> Iterator[GatedStandin]:
    standin = GatedStandin(SECRET).start()
    yield standin
    standin.close()


@pytest.fixture
def make_adapter(
    tmp_path: Path, telegram: TelegramStandin
) -> Iterator[Callable[[str], AdapterProcess]]:
    made: list[AdapterProcess] = []

    def make(gated_url: str) -> AdapterProcess:
        adapter = AdapterProcess(tmp_path, telegram, gated_url)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


DISCORD_TOKEN = "MTIzNDU2.standin.discord-token-abcdef"


class DiscordAdapterProcess(AdapterProcess):
    """`switchboard-discord` pointed at the Discord stand-in (SWITCHBOARD_DISCORD_API_BASE) and a
    gated; the token from DISCORD_BOT_TOKEN."""

    def __init__(self, root: Path, discord: DiscordStandin, gated_url: str) -> None:
        super().__init__(root, None, gated_url)  # type: ignore[arg-type]
        self.discord = discord
        self.state_dir = root / "discord-state"
        self.log_path = root / "discord-adapter.log"
        self.token = DISCORD_TOKEN

    def start(self) -> DiscordAdapterProcess:
        env = {
            **os.environ,
            "DISCORD_BOT_TOKEN": self.token,
            "SWITCHBOARD_CHANNEL_SECRET": SECRET,
            "SWITCHBOARD_DISCORD_API_BASE": self.discord.api_base,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("NOTIFY_SOCKET", None)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "switchboard-discord"),
                    "--gated",
                    self.gated_url,
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--state-dir",
                    str(self.state_dir),
                    "--log-level",
                    "DEBUG",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self


@pytest.fixture
def discord_cloud(tmp_path: Path) -> Iterator[DiscordStandin]:
    standin = DiscordStandin(DISCORD_TOKEN, tmp_path, heartbeat_ms=1000).start()
    yield standin
    standin.stop()


@pytest.fixture
def make_discord(
    tmp_path: Path, discord_cloud: DiscordStandin
) -> Iterator[Callable[[str], DiscordAdapterProcess]]:
    made: list[DiscordAdapterProcess] = []

    def make(gated_url: str) -> DiscordAdapterProcess:
        adapter = DiscordAdapterProcess(tmp_path, discord_cloud, gated_url)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()
