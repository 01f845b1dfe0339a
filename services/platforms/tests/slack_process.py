"""`switchboard-slack` as a real process, pointed at the Slack stand-in and a gated."""

from __future__ import annotations

from pathlib import Path

from adapter_process import PlatformAdapterProcess
from slack_standin import APP_TOKEN as SLACK_APP_TOKEN
from slack_standin import BOT_TOKEN as SLACK_BOT_TOKEN
from slack_standin import SlackStandin


class SlackAdapterProcess(PlatformAdapterProcess):
    """`switchboard-slack` pointed at the Slack stand-in and a gated."""

    program = "switchboard-slack"
    files = "slack"

    def __init__(self, root: Path, slack: SlackStandin, gated_url: str) -> None:
        super().__init__(root, gated_url, SLACK_BOT_TOKEN)
        self.slack = slack
        self.app_token = SLACK_APP_TOKEN

    def environment(self) -> dict[str, str]:
        return {"SLACK_BOT_TOKEN": self.token, "SLACK_APP_TOKEN": self.app_token}

    def options(self) -> list[str]:
        return [
            "--api-url",
            self.slack.api_url,
            "--files-url",
            self.slack.files_url,
            "--ping-interval",
            "1",
        ]
