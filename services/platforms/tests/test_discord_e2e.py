"""The whole path with the real gated process (protocol 1.1) and its echo
agent: a Discord user's message -> the gateway stand-in -> switchboard-discord -> gated ->
echo reply -> gated's /send -> POST channels/{id}/messages at the Discord stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store
from discord_process import DiscordAdapterProcess
from discord_standin import CHANNEL_ID, USER_ID, DiscordStandin
from gated.migrations import MIGRATIONS
from telegram_process import SECRET, free_port
from testkit import wait_for

CHAT = f"discord:{CHANNEL_ID}"


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.migrate_service(conn, "gated", MIGRATIONS)
    store.register_group(conn, CHAT, "discorddemo")
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
