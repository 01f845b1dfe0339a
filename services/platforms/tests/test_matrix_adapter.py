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
from adapter_process import BIN, SECRET
from matrix_adapter import MatrixAdapterProcess, MatrixWorld
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


async def test_mention_and_thread_reach_gated_and_the_reply_goes_back_in_the_thread_as_html(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        _, room_id = await joined_room(world, human, gated11)
        jid = f"matrix:{room_id}"
        root = await human.send_text(room_id, "a question for the room")
        in_thread = await human.send_in_thread(room_id, root, "more detail")
        pinged = await human.client.room_send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "you there?",
                "m.mentions": {"user_ids": [world.bot.user_id]},
            },
        )
        by_id = await human.send_text(room_id, f"hey {world.bot.user_id} look")
        posted = wait_for(lambda: len(gated11.posted(jid)) == 4 and gated11.posted(jid), 20)
        assert [m["id"] for m in posted] == [root, in_thread, pinged.event_id, by_id]
        assert "thread_id" not in posted[0]
        assert posted[1]["thread_id"] == root
        assert "reply_to_id" not in posted[1]  # the thread's reply fallback is no answer
        assert [m.get("mentions_bot", False) for m in posted] == [False, False, True, True]

        html = "<b>echo</b>: more detail"
        resp = gated11.send(
            send_body(room_id, "out:1:1", html, plain="echo: more detail", thread_id=root)
        )
        assert resp.status_code == 200, resp.text
        reply = await human.wait_for_message(world.bot.user_id, room_id=room_id)
        assert resp.json()["remote_id"] == reply.event_id
        assert (reply.body, reply.formatted_body) == ("echo: more detail", html)
        assert reply.source["content"]["format"] == "org.matrix.custom.html"
        assert reply.thread_root == root
        assert reply.source["content"]["m.relates_to"]["is_falling_back"] is True


async def test_edit_and_redaction_reach_gated_as_edit_and_delete(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        _, room_id = await joined_room(world, human, gated11)
        jid = f"matrix:{room_id}"
        original = await human.send_text(room_id, "teh typo")
        edit = await human.client.room_send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "* the typo",
                "m.new_content": {"msgtype": "m.text", "body": "the typo"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": original},
            },
        )
        redaction = await human.client.room_redact(room_id, original, reason="oops")
        posted = wait_for(lambda: len(gated11.posted(jid)) == 3 and gated11.posted(jid), 20)
        assert posted[1]["id"] == edit.event_id
        assert (posted[1]["verb"], posted[1]["target_id"]) == ("edit", original)
        assert posted[1]["content"] == "the typo"
        assert posted[2]["id"] == redaction.event_id
        assert (posted[2]["verb"], posted[2]["target_id"]) == ("delete", original)
        assert posted[2]["content"] == "(deleted)"


async def test_files_go_both_ways_with_equal_bytes(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        _, room_id = await joined_room(world, human, gated11)
        jid = f"matrix:{room_id}"
        data = secrets.token_bytes(70_000)
        event_id = await human.send_file(room_id, "report.pdf", data, "application/pdf")
        (posted,) = wait_for(lambda: gated11.posted(jid), 20, "the file message at gated")
        digest = hashlib.sha256(data).hexdigest()
        assert posted["id"] == event_id
        assert posted["content"] == "[report.pdf]"
        assert posted["attachments"] == [
            {"sha256": digest, "name": "report.pdf", "type": "application/pdf", "size": len(data)}
        ]
        assert gated11.files[digest] == data

        out = secrets.token_bytes(5000)
        attachment = {
            "name": "answer.bin",
            "type": "application/octet-stream",
            "size": len(out),
            "sha256": hashlib.sha256(out).hexdigest(),
            "data": base64.b64encode(out).decode(),
        }
        resp = gated11.send(send_body(room_id, "out:2:1", "here", attachments=[attachment]))
        assert resp.status_code == 200, resp.text
        text = await human.wait_for_message(world.bot.user_id, room_id=room_id)
        file = await human.wait_for_message(world.bot.user_id, room_id=room_id)
        assert (text.body, resp.json()["remote_id"]) == ("here", text.event_id)
        assert (file.msgtype, file.filename) == ("m.file", "answer.bin")
        assert file.url is not None
        assert await human.download(file.url) == out


async def test_a_file_larger_than_announced_is_cut_off_at_the_cap_and_the_message_still_goes(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        _, room_id = await joined_room(world, human, gated11, "--max-file-bytes", "4096")
        jid = f"matrix:{room_id}"
        url = await human.upload("big.bin", secrets.token_bytes(20_000), "application/octet-stream")
        await human.client.room_send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.file",
                "body": "small, honest",
                "filename": "big.bin",
                "url": url,
                "info": {"mimetype": "application/octet-stream", "size": 10},  # a lie
            },
        )
        (posted,) = wait_for(lambda: gated11.posted(jid), 20, "the message at gated")
        assert posted["content"] == "small, honest"  # the caption
        assert "attachments" not in posted
        assert gated11.files == {}


async def test_the_bots_own_messages_are_not_routed_back(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        adapter, room_id = await joined_room(world, human, gated11)
        jid = f"matrix:{room_id}"
        first = await human.send_text(room_id, "ping")
        wait_for(lambda: gated11.posted(jid), 20, "the first message")
        assert gated11.send(send_body(room_id, "out:3:1", "pong")).status_code == 200
        await human.wait_for_message(world.bot.user_id, room_id=room_id)
        second = await human.send_text(room_id, "ping again")
        posted = wait_for(lambda: len(gated11.posted(jid)) >= 2 and gated11.posted(jid), 20)
        assert [m["id"] for m in posted] == [first, second]
        assert all(m["sender"] == world.person.user_id for m in posted)
        assert adapter.stop() == 0


async def test_a_fresh_state_does_not_replay_the_rooms_history(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with (
        world.human() as human,
        MatrixHuman(world.synapse.url, world.bot.user_id, world.bot.access_token) as as_bot,
    ):
        room_id = await human.create_room(invite=(world.bot.user_id,))
        await as_bot.accept_invite(room_id)  # joined before the adapter ever ran
        await human.send_text(room_id, "old history")
        adapter = world.adapter(gated11.url).start()
        adapter.wait_logged("fresh state: starting from the homeserver's present")
        new = await human.send_text(room_id, "new")
        jid = f"matrix:{room_id}"
        (posted,) = wait_for(lambda: gated11.posted(jid), 20, "the new message")
        assert posted["id"] == new


async def test_killed_and_restarted_adapter_loses_and_doubles_nothing(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    # A timeline of 2 events per sync: the 5 messages of the outage come back as a limited
    # timeline, whose gap the adapter fills from /messages.
    async with world.human() as human:
        adapter, room_id = await joined_room(world, human, gated11, "--timeline-limit", "2")
        jid = f"matrix:{room_id}"
        for n in range(3):
            await human.send_text(room_id, f"before {n}")
        wait_for(lambda: len(gated11.posted(jid)) == 3, 20, "the first three at gated")
        gated11.fail_messages = 10**6  # gated goes away; the adapter is killed meanwhile
        for n in range(3):
            await human.send_text(room_id, f"during {n}")
        adapter.wait_logged("message post failed")
        adapter.kill()
        gated11.fail_messages = 0
        for n in range(2):
            await human.send_text(room_id, f"after {n}")
        restarted = world.adapter(gated11.url, "--timeline-limit", "2").start()
        want = [f"before {n}" for n in range(3)]
        want += [f"during {n}" for n in range(3)] + [f"after {n}" for n in range(2)]
        wait_for(lambda: len(gated11.posted(jid)) >= len(want), 30, "every message at gated")
        restarted.wait_logged("filled a sync gap")
        await human.send_text(room_id, "last")
        wait_for(lambda: len(gated11.posted(jid)) >= len(want) + 1, 20, "the last message")
        assert [m["content"] for m in gated11.posted(jid)] == [*want, "last"]
        assert restarted.stop() == 0


async def test_repeated_idempotency_key_posts_once_even_after_a_restart(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        adapter, room_id = await joined_room(world, human, gated11)
        body = send_body(room_id, "out:4:1", "once")
        first = gated11.send(body)
        second = gated11.send(body)
        assert first.status_code == second.status_code == 200
        assert second.json() == {"remote_id": first.json()["remote_id"], "duplicate": True}
        assert adapter.stop() == 0
        gated11.registrations.clear()
        world.adapter(gated11.url).start().wait_logged("connected to Matrix")
        wait_for(lambda: gated11.registrations, 20, "the second registration")
        third = gated11.send(body)
        assert third.json()["remote_id"] == first.json()["remote_id"]
        assert gated11.send(send_body(room_id, "out:4:2", "next")).status_code == 200
        await human.wait_for_message(world.bot.user_id, match=lambda m: m.body == "next")
        bodies = [m.body for m in await human.messages_from(world.bot.user_id, room_id)]
        assert bodies == ["once", "next"]


async def test_send_and_typing_without_the_secret_are_401_and_post_nothing(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        _, room_id = await joined_room(world, human, gated11)
        body = send_body(room_id, "out:5:1", "forged")
        assert gated11.send(body, secret=None).status_code == 401
        assert gated11.send(body, secret="x" * 43).status_code == 401
        assert gated11.send(body, secret=SECRET).status_code == 401  # the channel secret
        url = gated11.registration["url"]
        jid = f"matrix:{room_id}"
        assert httpx.post(f"{url}/typing", json={"chat_jid": jid}, timeout=10).status_code == 401
        assert gated11.typing(jid).json() == {"ok": True}
        assert gated11.send(send_body(room_id, "out:5:2", "real")).status_code == 200
        bodies = [m.body for m in await human.messages_from(world.bot.user_id, room_id)]
        assert "forged" not in bodies


async def test_a_real_429_answers_gated_429_with_retry_after_and_the_retry_goes_through(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        _, room_id = await joined_room(world, human, gated11)
        admin = world.synapse.register(f"admin-{secrets.token_hex(4)}", "pw-admin-1", admin=True)
        limited = httpx.post(
            f"{world.synapse.url}/_synapse/admin/v1/users/{world.bot.user_id}/override_ratelimit",
            json={"messages_per_second": 1, "burst_count": 1},
            headers={"Authorization": f"Bearer {admin.access_token}"},
            timeout=10,
        )
        assert limited.status_code == 200, limited.text
        # One message a second, a burst of one: back-to-back sends meet the limit at once.
        sent: list[str] = []
        for n in range(1, 4):
            first = gated11.send(send_body(room_id, f"out:6{n}:1", f"message {n}"))
            began = time.monotonic()
            if first.status_code == 429:
                break
            assert first.status_code == 200, first.text
            sent.append(f"message {n}")
        assert first.status_code == 429, first.text
        wait = int(first.headers["Retry-After"])
        assert wait >= 1
        assert first.json()["retry_after"] == wait
        time.sleep(max(0.0, wait - (time.monotonic() - began)))  # gated waits Retry-After
        again = gated11.send(send_body(room_id, f"out:6{n}:1", f"message {n}"))
        assert again.status_code == 200, again.text
        sent.append(f"message {n}")
        bodies = [m.body for m in await human.messages_from(world.bot.user_id, room_id)]
        assert bodies == sent


async def test_invites_from_outside_the_allow_list_are_declined(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    async with world.human() as human:
        room_id = await human.create_room(invite=(world.bot.user_id,))
        adapter = world.adapter(gated11.url, "--allow-invites-from", ":elsewhere.test").start()
        adapter.wait_logged("invite declined")
        assert room_id in adapter.log()
        assert world.bot.user_id not in human.members.get(room_id, set())


async def test_matrix_say_speaks_as_the_human(world: MatrixWorld, gated11: GatedStandin) -> None:
    async with world.human() as human:
        _, room_id = await joined_room(world, human, gated11)
        note = world.root / "note.txt"
        note.write_bytes(b"said with a file")
        out = subprocess.run(
            [
                sys.executable,
                str(SAY),
                "--homeserver",
                world.synapse.url,
                "--token",
                world.person.access_token,
                "--room",
                room_id,
                "--file",
                str(note),
                "said from the command line",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        jid = f"matrix:{room_id}"
        posted = wait_for(lambda: len(gated11.posted(jid)) == 2 and gated11.posted(jid), 20)
        assert [m["id"] for m in posted] == out.stdout.split()
        assert posted[0]["content"] == "said from the command line"
        assert gated11.files[posted[1]["attachments"][0]["sha256"]] == b"said with a file"


async def test_rejected_token_exits_2_with_one_clear_line(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    adapter = world.adapter(gated11.url)
    adapter.token = "syt_WRONG-token-that-must-not-be-logged"
    adapter.start()
    assert adapter.proc is not None
    assert adapter.proc.wait(timeout=30) == 2
    log = adapter.log()
    want = "Matrix rejected the access token (M_UNKNOWN_TOKEN on whoami): check MATRIX_ACCESS_TOKEN"
    assert want in log
    assert "WRONG-token" not in log
    assert "Traceback" not in log


async def test_a_token_of_another_account_exits_2(
    world: MatrixWorld, gated11: GatedStandin
) -> None:
    adapter = world.adapter(gated11.url)
    adapter.token = world.person.access_token
    adapter.start()
    assert adapter.proc is not None
    assert adapter.proc.wait(timeout=30) == 2
    assert f"is {world.person.user_id}'s, not {world.bot.user_id}" in adapter.log()


def test_help_and_missing_settings() -> None:
    out = subprocess.run(
        [str(BIN / "switchboard-matrix"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0
    assert "MATRIX_ACCESS_TOKEN" in out.stdout
    assert "SWITCHBOARD_MATRIX_HOMESERVER" in out.stdout
    env = {"PATH": "/usr/bin:/bin", "SWITCHBOARD_CHANNEL_SECRET": "s"}
    missing = subprocess.run(
        [str(BIN / "switchboard-matrix")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert (missing.returncode, missing.stderr.count("\n")) == (2, 1)
    assert "MATRIX_ACCESS_TOKEN is not set" in missing.stderr
    no_server = subprocess.run(
        [str(BIN / "switchboard-matrix")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**env, "MATRIX_ACCESS_TOKEN": "t"},
    )
    assert no_server.returncode == 2
    assert "SWITCHBOARD_MATRIX_HOMESERVER is not set" in no_server.stderr
