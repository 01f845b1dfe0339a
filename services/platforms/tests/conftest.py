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


# -- Slack: the stand-in process and switchboard-slack against it ------------------------------
from slack_standin import APP_TOKEN as SLACK_APP_TOKEN  # noqa: E402
from slack_standin import BOT_TOKEN as SLACK_BOT_TOKEN  # noqa: E402
from slack_standin import SlackStandin  # noqa: E402


class SlackAdapterProcess(AdapterProcess):
    """`switchboard-slack` pointed at the Slack stand-in and a gated."""

    def __init__(self, root: Path, slack: SlackStandin, gated_url: str) -> None:
        self.root = root
        self.slack = slack
        self.gated_url = gated_url
        self.port = free_port()
        self.state_dir = root / "slack-state"
        self.log_path = root / "slack-adapter.log"
        self.proc = None
        self.token = SLACK_BOT_TOKEN
        self.app_token = SLACK_APP_TOKEN

    def start(self) -> SlackAdapterProcess:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": self.token,
            "SLACK_APP_TOKEN": self.app_token,
            "SWITCHBOARD_CHANNEL_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("NOTIFY_SOCKET", None)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "switchboard-slack"),
                    "--gated",
                    self.gated_url,
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--state-dir",
                    str(self.state_dir),
                    "--api-url",
                    self.slack.api_url,
                    "--files-url",
                    self.slack.files_url,
                    "--ping-interval",
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
