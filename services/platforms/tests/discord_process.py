"""`switchboard-discord` as a real process, pointed at the Discord stand-in and a gated."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from adapter_process import PlatformAdapterProcess
from discord_standin import DiscordStandin

DISCORD_TOKEN: Final = "MTIzNDU2.standin.discord-token-abcdef"


class DiscordAdapterProcess(PlatformAdapterProcess):
    """`switchboard-discord` pointed at the Discord stand-in (SWITCHBOARD_DISCORD_API_BASE) and a
    gated; the token from DISCORD_BOT_TOKEN."""

    program = "switchboard-discord"
    files = "discord"

    def __init__(self, root: Path, discord: DiscordStandin, gated_url: str) -> None:
        super().__init__(root, gated_url, DISCORD_TOKEN)
        self.discord = discord

    def environment(self) -> dict[str, str]:
        return {
            "DISCORD_BOT_TOKEN": self.token,
            "SWITCHBOARD_DISCORD_API_BASE": self.discord.api_base,
        }
