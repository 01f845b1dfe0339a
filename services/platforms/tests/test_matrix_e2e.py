"""The whole path with the real gated process (protocol 1.1) and its echo agent
on the real Synapse: a person's message in a room -> switchboard-matrix -> gated -> echo reply
-> gated's /send -> the bot's message in the room, as the person's client sees it."""

from __future__ import annotations

from pathlib import Path

import pytest
import store
from matrix_adapter import MatrixWorld
from real_gated import real_gated
from testkit.synapse import Synapse

pytestmark = pytest.mark.anyio


async def test_matrix_message_gets_the_echo_reply_through_real_gated(
    synapse: Synapse, tmp_path: Path
) -> None:
    world = MatrixWorld.fresh(synapse, tmp_path)
    async with world.human() as human:
        room_id = await human.create_room(invite=(world.bot.user_id,), name="Echo")
        jid = f"matrix:{room_id}"
        with real_gated(tmp_path, {jid: "mxdemo"}) as (base, db):
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
