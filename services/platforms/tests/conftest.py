"""Fixtures for the adapters' tests: the Telegram stand-in process, gated's v1.1 channel API
in-process (testkit.GatedStandin), `switchboard-telegram` as a real process, and
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
