"""The whole path with the real gated process (protocol 1.1) and its echo
agent: a Slack user's message -> Socket Mode -> switchboard-slack -> gated -> echo reply ->
gated's /send -> chat.postMessage at the Slack stand-in, whose echo of the bot's own message
comes back over the socket and is not taken for a new message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from real_gated import real_gated
from slack_process import SlackAdapterProcess
from slack_standin import CHANNEL, TEAM, SlackStandin
from testkit import wait_for

JID = f"slack:{TEAM}:{CHANNEL}"


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with real_gated(tmp_path, {JID: "slackdemo"}) as running:
        yield running


def test_slack_message_gets_the_echo_reply_through_real_gated(
    gated: tuple[str, Path], tmp_path: Path, slack: SlackStandin
) -> None:
    base, db = gated
    adapter = SlackAdapterProcess(tmp_path, slack, base).start()
    try:
        adapter.wait_logged("registered with gated")
        adapter.wait_logged("socket mode connected")
        assert "protocol=1.1" in adapter.log()
        slack.user_message("hello from slack & co")
        replies = wait_for(slack.posted, 60, "the echo reply at Slack")
        assert [(m["channel"], m["text"]) for m in replies] == [
            (CHANNEL, "echo: hello from slack &amp; co")
        ]
        # the reply's own echo over the socket is acked and dropped: no reply to the reply
        wait_for(lambda: len(slack.state()["acks"]) == 2, 20, "both envelopes acked")
        conn = store.connect(db, readonly=True)
        try:
            rows = store.messages_since(conn, JID, 0)
        finally:
            conn.close()
        inbound = [m for m in rows if not m.is_from_me]
        assert [(m.source, m.sender, m.content) for m in inbound] == [
            ("slack", "U0ALICE", "hello from slack & co")
        ]
        assert adapter.stop() == 0
        assert len(slack.posted()) == 1
    finally:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()
