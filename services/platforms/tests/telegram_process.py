"""`switchboard-telegram` as a real process for the adapter's tests, and the token the
Telegram stand-in accepts (the rest the tests share is in adapter_process)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from adapter_process import BIN, SECRET, PlatformAdapterProcess, free_port
from telegram_standin import TelegramStandin

TOKEN: Final = "123456:TEST-standin-token-abcdef"

__all__ = ["BIN", "SECRET", "TOKEN", "AdapterProcess", "free_port"]


class AdapterProcess(PlatformAdapterProcess):
    """`switchboard-telegram` pointed at a stand-in Telegram and a gated."""

    program = "switchboard-telegram"
    files = "telegram"

    def __init__(self, root: Path, telegram: TelegramStandin, gated_url: str) -> None:
        super().__init__(root, gated_url, TOKEN)
        self.state_dir = root / "tg-state"
        self.telegram = telegram

    def environment(self) -> dict[str, str]:
        return {"TELEGRAM_BOT_TOKEN": self.token}

    def options(self) -> list[str]:
        return [
            "--api-url",
            self.telegram.api_url,
            "--file-url",
            self.telegram.file_url,
            "--poll-timeout",
            "1",
        ]
