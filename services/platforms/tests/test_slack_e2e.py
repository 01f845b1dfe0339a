"""The whole path with the real gated process (protocol 1.1) and its echo
agent: a Slack user's message -> Socket Mode -> switchboard-slack -> gated -> echo reply ->
gated's /send -> chat.postMessage at the Slack stand-in, whose echo of the bot's own message
comes back over the socket and is not taken for a new message."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store
from gated.migrations import MIGRATIONS
from slack_process import SlackAdapterProcess
from slack_standin import CHANNEL, TEAM, SlackStandin
from telegram_process import SECRET, free_port
from testkit import wait_for

JID = f"slack:{TEAM}:{CHANNEL}"


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.migrate_service(conn, "gated", MIGRATIONS)
    store.register_group(conn, JID, "slackdemo")
    conn.close()
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_CHANNEL_SECRET": SECRET,
        "SWITCHBOARD_GROUPS_DIR": str(tmp_path / "groups"),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    }
    env.pop("NOTIFY_SOCKET", None)
    log = (tmp_path / "gated.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gated.main", "--db", str(db), "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / "gated.log").read_text()
        try:
            return httpx.get(f"{base}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30, what="gated's channel API")
        yield base, db
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        log.close()


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
