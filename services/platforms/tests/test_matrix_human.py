"""`MatrixHuman` against the real Synapse: two of them (one standing where the bot will be)
exchange text, a file and a thread reply, and a wait never loses or repeats a message."""

from __future__ import annotations

import secrets
import time

import pytest
from matrix_human import MatrixHuman
from testkit.synapse import Synapse

pytestmark = pytest.mark.anyio


def human(synapse: Synapse, prefix: str) -> MatrixHuman:
    user = synapse.register(f"{prefix}-{secrets.token_hex(4)}", secrets.token_urlsafe(12))
    return MatrixHuman(synapse.url, user.user_id, user.access_token)


async def test_two_humans_exchange_text_files_and_thread_replies(synapse: Synapse) -> None:
    async with human(synapse, "person") as person, human(synapse, "bot") as bot:
        room_id = await person.create_room(invite=(bot.user_id,))
        await bot.accept_invite(room_id)
        await person.wait_for_member(room_id, bot.user_id)

        root = await person.send_text(room_id, "hello bot")
        got = await bot.wait_for_message(person.user_id, room_id=room_id)
        assert (got.event_id, got.body, got.msgtype) == (root, "hello bot", "m.text")

        await bot.send_in_thread(room_id, root, "hello, in a thread")
        reply = await person.wait_for_message(bot.user_id, room_id=room_id)
        assert (reply.body, reply.thread_root, reply.reply_to) == ("hello, in a thread", root, root)

        data = secrets.token_bytes(2048)
        await bot.send_file(room_id, "notes.txt", data, "text/plain")
        file = await person.wait_for_message(bot.user_id, match=lambda m: m.msgtype == "m.file")
        assert (file.filename, file.mimetype) == ("notes.txt", "text/plain")
        assert file.url is not None
        assert await person.download(file.url) == data


async def test_wait_returns_each_message_once_in_order_even_if_it_came_earlier(
    synapse: Synapse,
) -> None:
    async with human(synapse, "person") as person, human(synapse, "bot") as bot:
        room_id = await person.create_room(invite=(bot.user_id,))
        await bot.accept_invite(room_id)
        first = await bot.send_text(room_id, "one")
        second = await bot.send_text(room_id, "two")
        assert (await person.wait_for_message(bot.user_id)).event_id == first
        assert (await person.wait_for_message(bot.user_id)).event_id == second
        assert [m.body for m in await person.messages_from(bot.user_id, room_id)] == ["one", "two"]


async def test_wait_for_a_message_that_never_comes_fails_at_its_deadline(
    synapse: Synapse,
) -> None:
    async with human(synapse, "person") as person:
        began = time.monotonic()
        with pytest.raises(AssertionError, match="timed out after 1 s"):
            await person.wait_for_message("@nobody:switchboard.test", timeout=1.0)
        assert time.monotonic() - began < 5
