"""`switchboard-slack` as a real process, pointed at the Slack stand-in and a gated."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from slack_standin import APP_TOKEN as SLACK_APP_TOKEN
from slack_standin import BOT_TOKEN as SLACK_BOT_TOKEN
from slack_standin import SlackStandin
from telegram_process import BIN, SECRET, AdapterProcess, free_port


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
