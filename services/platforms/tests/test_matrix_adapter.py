"""switchboard-matrix as a real process between the real Synapse (a fresh bot and human per
test, `MatrixHuman` playing the person) and gated's v1.1 API (testkit.GatedStandin): invites
joined, messages with threads, mentions, edits, redactions and files in; replies (in threads,
HTML, files) out; a real 429; idempotency and the send secret; a restart; a refused token."""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from matrix_adapter import BIN, SECRET, MatrixAdapterProcess, MatrixWorld
from matrix_human import MatrixHuman
from testkit import GatedStandin, wait_for
from testkit.synapse import Synapse

pytestmark = pytest.mark.anyio

SAY = Path(__file__).resolve().parent / "matrix_say.py"


@pytest.fixture
def world(synapse: Synapse, tmp_path: Path) -> MatrixWorld:
    return MatrixWorld.fresh(synapse, tmp_path)


async def joined_room(
    world: MatrixWorld, human: MatrixHuman, gated: GatedStandin, *extra: str
) -> tuple[MatrixAdapterProcess, str]:
    """The human invites the bot to a new room; the adapter starts, joins it, and is
    registered with gated."""
    room_id = await human.create_room(invite=(world.bot.user_id,), name="Team")
    adapter = world.adapter(gated.url, *extra).start()
    adapter.wait_logged("connected to Matrix")
    await human.wait_for_member(room_id, world.bot.user_id, timeout=30)
    wait_for(lambda: gated.registrations, 20, "the registration")
    return adapter, room_id


def send_body(room_id: str, key: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "chat_jid": f"matrix:{room_id}",
        "id": key.rsplit(":", 1)[0],
        "text": text,
        "format": "matrix_html",
        "plain": text,
        "reply_to_id": None,
        "seq": 1,
        "part": 1,
        "parts": 1,
        "idempotency_key": key,
        **extra,
    }


async def test_registers_and_a_message_reaches_gated_with_the_room_jid_and_sender(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        adapter, room_id = await joined_room(world, human, gated11)
        reg = gated11.registration
        assert reg["name"] == "matrix"
        assert reg["protocol"] == "1.1"
        assert reg["capabilities"]["format"] == "matrix_html"
        assert reg["capabilities"]["threads"] is True
        event_id = await human.send_text(room_id, "hello bot")
        jid = f"matrix:{room_id}"
        (posted,) = wait_for(lambda: gated11.posted(jid), 20, "the message at gated")
        assert posted["id"] == event_id
        assert posted["content"] == "hello bot"
        assert posted["sender"] == world.person.user_id
        assert posted["chat_name"] == "Team"
        assert posted["is_group"] is False
        assert "mentions_bot" not in posted
        assert "thread_id" not in posted
        assert adapter.stop() == 0
        assert world.bot.access_token not in adapter.log()
