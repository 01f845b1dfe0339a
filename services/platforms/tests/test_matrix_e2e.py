"""The whole path with the real gated process (protocol 1.1) and its echo agent
on the real Synapse: a person's message in a room -> switchboard-matrix -> gated -> echo reply
-> gated's /send -> the bot's message in the room, as the person's client sees it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import store
from gated.migrations import MIGRATIONS
from matrix_adapter import SECRET, MatrixWorld, free_port
from testkit import wait_for
from testkit.synapse import Synapse

pytestmark = pytest.mark.anyio


def start_gated(tmp_path: Path, jid: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.migrate_service(conn, "gated", MIGRATIONS)
    store.register_group(conn, jid, "mxdemo")
    conn.close()
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_CHANNEL_SECRET": SECRET,
        "SWITCHBOARD_GROUPS_DIR": str(tmp_path / "groups"),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    }
    env.pop("NOTIFY_SOCKET", None)
    with (tmp_path / "gated.log").open("w") as log:
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

    wait_for(up, timeout=30, what="gated's channel API")
    return proc, base, db


async def test_matrix_message_gets_the_echo_reply_through_real_gated(
    synapse: Synapse, tmp_path: Path
) -> None:
    world = MatrixWorld.fresh(synapse, tmp_path)
    async with world.human() as human:
        room_id = await human.create_room(invite=(world.bot.user_id,), name="Echo")
        jid = f"matrix:{room_id}"
        gated, base, db = start_gated(tmp_path, jid)
        adapter = world.adapter(base).start()
        try:
            adapter.wait_logged("registered with gated")
            await human.wait_for_member(room_id, world.bot.user_id, timeout=30)
            sent = await human.send_text(room_id, "hello from matrix")
            reply = await human.wait_for_message(world.bot.user_id, room_id=room_id, timeout=60)
            assert reply.body == "echo: hello from matrix"
            conn = store.connect(db, readonly=True)
            try:
                rows = store.messages_since(conn, jid, 0)
            finally:
                conn.close()
            inbound = [m for m in rows if not m.is_from_me]
            assert [(m.id, m.source, m.sender, m.content) for m in inbound] == [
                (sent, "matrix", world.person.user_id, "hello from matrix")
            ]
            assert adapter.stop() == 0
        finally:
            if adapter.proc is not None and adapter.proc.poll() is None:
                adapter.kill()
            gated.terminate()
            assert gated.wait(timeout=20) == 0
