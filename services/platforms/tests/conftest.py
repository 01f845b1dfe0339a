"""Fixtures for the adapters' tests: gated's v1.1 channel API in-process
(testkit.GatedStandin) and the adapters as real processes (`*_process.py`: test modules import
those, never conftest), each made on its platform's stand-in (`telegram`, `slack`,
`discord_cloud`: standin_fixtures, a plugin of the root conftest); `matrix_human.py` plays the
person on a real Synapse (the `synapse` fixture of testkit.synapse_fixture)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from adapter_process import PlatformAdapterProcess
from discord_process import DiscordAdapterProcess
from discord_standin import DiscordStandin
from slack_process import SlackAdapterProcess
from slack_standin import SlackStandin
from telegram_process import SECRET, AdapterProcess
from telegram_standin import TelegramStandin
from testkit import GatedStandin

C = TypeVar("C")
P = TypeVar("P", bound=PlatformAdapterProcess)


def adapters(
    kind: Callable[[Path, C, str], P], root: Path, cloud: C
) -> Iterator[Callable[[str], P]]:
    """A fixture's body: make adapters of `kind` on `cloud` for a gated URL; any still running
    at the end of the test is killed."""
    made: list[P] = []

    def make(gated_url: str) -> P:
        made.append(kind(root, cloud, gated_url))
        return made[-1]

    yield make
    for adapter in made:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()


@pytest.fixture
def gated11() -> Iterator[GatedStandin]:
    standin = GatedStandin(SECRET).start()
    yield standin
    standin.close()


@pytest.fixture
def make_adapter(
    tmp_path: Path, telegram: TelegramStandin
) -> Iterator[Callable[[str], AdapterProcess]]:
    yield from adapters(AdapterProcess, tmp_path, telegram)


@pytest.fixture
def make_slack_adapter(
    tmp_path: Path, slack: SlackStandin
) -> Iterator[Callable[[str], SlackAdapterProcess]]:
    yield from adapters(SlackAdapterProcess, tmp_path, slack)


@pytest.fixture
def make_discord(
    tmp_path: Path, discord_cloud: DiscordStandin
) -> Iterator[Callable[[str], DiscordAdapterProcess]]:
    yield from adapters(DiscordAdapterProcess, tmp_path, discord_cloud)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
