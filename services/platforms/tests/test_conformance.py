"""The conformance kit (`switchboard-adapter-check`) against each platform adapter as a real
process: switchboard-telegram, -slack and -discord on their stand-ins, switchboard-matrix on
the real Synapse, each driven by its platform's `say` command line. Every rule passes, or is
n/a for what the platform cannot do (Slack has no typing indicator for bots)."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest
from discord_process import DiscordAdapterProcess
from discord_standin import CHANNEL_ID, DiscordStandin
from matrix_adapter import MatrixWorld
from slack_process import SlackAdapterProcess
from slack_standin import CHANNEL, TEAM, SlackStandin
from telegram_process import SECRET, AdapterProcess
from telegram_standin import TelegramStandin
from testkit.adapter_check import AdapterCheck
from testkit.synapse import Synapse

HERE = Path(__file__).resolve().parent
LOG_TAIL_LINES = 80


class Adapter(Protocol):
    proc: subprocess.Popen[bytes] | None

    def start(self) -> Adapter: ...
    def stop(self) -> int: ...
    def kill(self) -> None: ...
    def log(self) -> str: ...


@dataclass
class Platform:
    """One adapter under test: how to start it at a gated, its chat, its --say."""

    adapter: Callable[[str], Adapter]  # gated URL -> the adapter process, not started
    chat_jid: str
    say: list[str]
    not_applicable: set[str] = field(default_factory=set)


def script(name: str, *args: str) -> list[str]:
    return [sys.executable, str(HERE / name), *args]


def telegram(request: pytest.FixtureRequest, tmp_path: Path) -> Platform:
    cloud: TelegramStandin = request.getfixturevalue("telegram")
    return Platform(
        lambda url: AdapterProcess(tmp_path, cloud, url),
        "tg:42",
        script("telegram_standin.py", "say", "--control", cloud.url),
    )


def slack(request: pytest.FixtureRequest, tmp_path: Path) -> Platform:
    cloud: SlackStandin = request.getfixturevalue("slack")
    return Platform(
        lambda url: SlackAdapterProcess(tmp_path, cloud, url),
        f"slack:{TEAM}:{CHANNEL}",
        script("slack_standin.py", "say", "--control", cloud.url),
        {"typing-needs-secret", "typing"},  # typing: false
    )


def discord(request: pytest.FixtureRequest, tmp_path: Path) -> Platform:
    cloud: DiscordStandin = request.getfixturevalue("discord_cloud")
    return Platform(
        lambda url: DiscordAdapterProcess(tmp_path, cloud, url),
        f"discord:{CHANNEL_ID}",
        script("discord_standin.py", "say", "--control", cloud.url),
    )


def matrix(request: pytest.FixtureRequest, tmp_path: Path) -> Platform:
    synapse: Synapse = request.getfixturevalue("synapse")
    world = MatrixWorld.fresh(synapse, tmp_path)

    async def room_with_the_bot_invited() -> str:
        async with world.human() as human:
            return await human.create_room(invite=(world.bot.user_id,), name="Conformance")

    room_id = asyncio.run(room_with_the_bot_invited())
    say = ["--homeserver", synapse.url, "--token", world.person.access_token, "--room", room_id]
    # The adapter skips what was said before its bot joined: the human waits for the join.
    say += ["--after-member", world.bot.user_id]
    return Platform(world.adapter, f"matrix:{room_id}", script("matrix_say.py", *say))


PLATFORMS = {"telegram": telegram, "slack": slack, "discord": discord, "matrix": matrix}


@pytest.mark.parametrize("name", list(PLATFORMS))
def test_the_adapter_passes_every_rule_of_the_protocol(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    platform = PLATFORMS[name](request, tmp_path)
    checker = AdapterCheck(secret=SECRET, say=shlex.join(platform.say), chat_jid=platform.chat_jid)
    adapter: Adapter | None = None
    try:
        checker.wait_gated()
        adapter = platform.adapter(checker.url).start()
        started = adapter
        done = checker.result(lambda: "\n".join(started.log().splitlines()[-LOG_TAIL_LINES:]))
        assert done.status == 0, done.shown
        not_passed = {rule for rule, result in done.results().items() if result != "PASS"}
        assert not_passed == platform.not_applicable, done.shown
        assert adapter.stop() == 0, adapter.log()
    finally:
        checker.kill()
        if adapter is not None and adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()
