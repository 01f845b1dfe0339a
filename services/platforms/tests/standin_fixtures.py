"""The pytest fixtures of the platform stand-ins, one process each per test: `telegram`,
`slack` and `discord_cloud` (not `discord`: that is the library's name in the adapter's
tests). A plugin of the root conftest, so every test tree has them; this folder is on the
tests' path (pyproject's pytest `pythonpath`), so its modules import by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from discord_process import DISCORD_TOKEN
from discord_standin import DiscordStandin
from slack_standin import SlackStandin
from telegram_process import TOKEN as TELEGRAM_TOKEN
from telegram_standin import TelegramStandin

# Heartbeats every second: the adapter's heartbeat loop runs within a test's time.
DISCORD_HEARTBEAT_MS: Final = 1000


@pytest.fixture
def telegram(tmp_path: Path) -> Iterator[TelegramStandin]:
    """Telegram's Bot API stand-in, accepting TELEGRAM_TOKEN."""
    standin = TelegramStandin(TELEGRAM_TOKEN, tmp_path).start()
    yield standin
    standin.stop()


@pytest.fixture
def slack(tmp_path: Path) -> Iterator[SlackStandin]:
    """Slack's Web API and Socket Mode stand-in, accepting slack_standin's BOT_TOKEN and
    APP_TOKEN."""
    standin = SlackStandin(tmp_path).start()
    yield standin
    standin.stop()


@pytest.fixture
def discord_cloud(tmp_path: Path) -> Iterator[DiscordStandin]:
    """Discord's REST API and Gateway stand-in, accepting DISCORD_TOKEN."""
    standin = DiscordStandin(DISCORD_TOKEN, tmp_path, heartbeat_ms=DISCORD_HEARTBEAT_MS).start()
    yield standin
    standin.stop()
