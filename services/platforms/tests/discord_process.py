"""`switchboard-discord` as a real process, pointed at the Discord stand-in and a gated."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from discord_standin import DiscordStandin
from telegram_process import BIN, SECRET, AdapterProcess

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
