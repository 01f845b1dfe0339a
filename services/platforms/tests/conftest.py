"""Fixtures for the adapters' tests: the Telegram, Slack and Discord stand-in processes,
gated's v1.1 channel API in-process (testkit.GatedStandin), the adapters as real processes
(`*_process.py`: test modules import those, never conftest), and
`matrix_human.py` (on sys.path here) playing the person on a real Synapse (the `synapse`
fixture of testkit.synapse_fixture)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from testkit import GatedStandin

sys.path.insert(0, str(Path(__file__).resolve().parent))

from telegram_process import SECRET, TOKEN, AdapterProcess
from telegram_standin import TelegramStandin


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


from discord_process import DISCORD_TOKEN, DiscordAdapterProcess  # noqa: E402
from discord_standin import DiscordStandin  # noqa: E402
from slack_process import SlackAdapterProcess  # noqa: E402
from slack_standin import SlackStandin  # noqa: E402


@pytest.fixture
def slack(tmp_path: Path) -> Iterator[SlackStandin]:
    standin = SlackStandin(tmp_path).start()
    yield standin
    standin.stop()


@pytest.fixture
def make_slack_adapter(
    tmp_path: Path, slack: SlackStandin
) -> Iterator[Callable[[str], SlackAdapterProcess]]:
    made: list[SlackAdapterProcess] = []

    def make(gated_url: str) -> SlackAdapterProcess:
        adapter = SlackAdapterProcess(tmp_path, slack, gated_url)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()


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
