"""The whole path with the real gated process (protocol 1.1) and its echo
agent: a Discord user's message -> the gateway stand-in -> switchboard-discord -> gated ->
echo reply -> gated's /send -> POST channels/{id}/messages at the Discord stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from discord_process import DiscordAdapterProcess
from discord_standin import CHANNEL_ID, USER_ID, DiscordStandin
from real_gated import real_gated
from testkit import wait_for

CHAT = f"discord:{CHANNEL_ID}"


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with real_gated(tmp_path, {CHAT: "discorddemo"}) as running:
        yield running


def test_discord_message_gets_the_echo_reply_through_real_gated(
    gated: tuple[str, Path], tmp_path: Path, discord_cloud: DiscordStandin
) -> None:
    base, db = gated
    adapter = DiscordAdapterProcess(tmp_path, discord_cloud, base).start()
    try:
        adapter.wait_logged("registered with gated")
        adapter.wait_logged("connected to Discord", 30)
        discord_cloud.user_message("hello from discord")
        replies = wait_for(discord_cloud.posted, 60, "the echo reply at Discord")
        assert [(c["channel_id"], c["json"]["content"]) for c in replies] == [
            (CHANNEL_ID, "echo: hello from discord")
        ]
        assert replies[0]["json"]["allowed_mentions"] == {"parse": []}
        conn = store.connect(db, readonly=True)
        try:
            rows = store.messages_since(conn, CHAT, 0)
        finally:
            conn.close()
        inbound = [m for m in rows if not m.is_from_me]
        assert ("discord", str(USER_ID), "hello from discord") in [
            (m.source, m.sender, m.content) for m in inbound
        ]
        assert adapter.stop() == 0
    finally:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()
