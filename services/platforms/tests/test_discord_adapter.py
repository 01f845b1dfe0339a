"""switchboard-discord as a real process between the Discord stand-in (REST + gateway, driven
by the real discord.py) and gated's v1.1 API (testkit.GatedStandin): inbound with threads,
mentions, the bot's own and other bots' messages, edits, deletions and files; /send into
threads with no pings, files, 429s, idempotency and the send secret; a dropped gateway, a
lost session and a restart that lose and double nothing; a refused token."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
from discord_process import DiscordAdapterProcess
from discord_standin import (
    BOT_ID,
    CHANNEL_ID,
    OTHER_BOT_ID,
    OTHER_CHANNEL_ID,
    THREAD_ID,
    DiscordStandin,
    user,
)
from telegram_process import BIN, SECRET
from testkit import GatedStandin, wait_for

Make = Callable[[str], DiscordAdapterProcess]
MESSAGES = "POST /channels/{id}/messages"
CHAT = f"discord:{CHANNEL_ID}"


def running(make_discord: Make, gated: GatedStandin) -> DiscordAdapterProcess:
    adapter = make_discord(gated.url).start()
    adapter.wait_logged("connected to Discord", 30)
    wait_for(lambda: gated.registrations, 20, "the registration")
    return adapter


def send_body(key: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "chat_jid": CHAT,
        "id": key.rsplit(":", 1)[0],
        "text": text,
        "format": "discord_markdown",
        "plain": text,
        "reply_to_id": None,
        "seq": 1,
        "part": 1,
        "parts": 1,
        "idempotency_key": key,
        **extra,
    }


def people(gated: GatedStandin, chat: str = CHAT) -> list[dict[str, Any]]:
    return gated.posted(chat)


def test_registers_and_identifies_with_the_message_content_intent(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    adapter = running(make_discord, gated11)
    reg = gated11.registration
    assert reg["name"] == "discord"
    assert reg["protocol"] == "1.1"
    assert reg["capabilities"] == {
        "max_text": 2000,
        "files_in": True,
        "files_out": True,
        "max_file_bytes": 10 * 1024 * 1024,
        "threads": True,
        "typing": True,
        "edits": True,
        "format": "discord_markdown",
    }
    (identify,) = discord_cloud.state()["identifies"]
    assert identify["intents"] & (1 << 15)  # MESSAGE_CONTENT
    assert discord_cloud.calls("GET /gateway/bot")
    assert adapter.stop() == 0
    assert adapter.token not in adapter.log()


def test_mention_in_a_thread_reaches_gated_under_the_parent_with_thread_id(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    sent = discord_cloud.user_message(f"hi <@{BOT_ID}>", channel_id=THREAD_ID, mentions_bot=True)
    (posted,) = wait_for(lambda: people(gated11), 20, "the thread message at gated")
    assert posted["chat_jid"] == CHAT
    assert posted["thread_id"] == str(THREAD_ID)
    assert posted["id"] == sent["id"]
    assert posted["mentions_bot"] is True
    assert posted["is_group"] is True
    assert posted["content"] == "hi @Switchboard-Test"
    discord_cloud.user_message("no mention here")
    wait_for(lambda: len(people(gated11)) == 2, 20, "the plain message")
    plain = people(gated11)[1]
    assert "mentions_bot" not in plain
    assert "thread_id" not in plain


def test_own_and_other_bots_messages_are_not_posted(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    resp = gated11.send(send_body("out:own:1", "the bot speaks"))
    assert resp.status_code == 200, resp.text
    discord_cloud.user_message("beep", author=user(OTHER_BOT_ID, "otherbot", bot=True))
    discord_cloud.user_message("a person")
    (person,) = wait_for(lambda: gated11.posted(), 20, "the person's message")
    assert person["content"] == "a person"
    # the echo of the bot's reply and the other bot's came first and were dropped
    assert [m["content"] for m in gated11.posted()] == ["a person"]


def test_edit_and_delete_are_posted_with_their_target(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    msg = discord_cloud.user_message("typo", channel_id=THREAD_ID)
    wait_for(lambda: people(gated11), 20, "the message")
    discord_cloud.edit(msg["id"], "fixed", channel_id=THREAD_ID)
    discord_cloud.delete(msg["id"], channel_id=THREAD_ID)
    wait_for(lambda: len(people(gated11)) == 3, 20, "the edit and the deletion")
    _, edit, gone = people(gated11)
    assert edit["verb"] == "edit"
    assert edit["target_id"] == msg["id"]
    assert edit["id"].startswith(f"{msg['id']}:edit:")
    assert edit["content"] == "fixed"
    assert edit["thread_id"] == str(THREAD_ID)
    assert gone["verb"] == "delete"
    assert gone["target_id"] == msg["id"]
    assert gone["chat_jid"] == CHAT
    assert gone["thread_id"] == str(THREAD_ID)


def test_reply_goes_into_the_thread_and_can_ping_nobody(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    hostile = "@everyone <@&1100000000000000099> <@1100000000000000020> look"
    resp = gated11.send(send_body("out:1:1", hostile, thread_id=str(THREAD_ID)))
    assert resp.status_code == 200, resp.text
    (call,) = discord_cloud.posted()
    assert call["channel_id"] == THREAD_ID
    assert call["json"]["content"] == hostile
    assert call["json"]["allowed_mentions"] == {"parse": []}
    assert resp.json()["remote_id"] == call["message_id"]


def test_thread_of_another_channel_is_refused(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    body = send_body("out:x:1", "wrong place", chat_jid=f"discord:{OTHER_CHANNEL_ID}")
    resp = gated11.send({**body, "thread_id": str(THREAD_ID)})
    assert resp.status_code == 422
    assert discord_cloud.posted() == []


def test_attachment_in_is_downloaded_and_uploaded_to_gated(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    image = b"\x89PNG fake image bytes" * 100
    att = discord_cloud.add_file(image, "cat.png", "image/png")
    huge = {**att, "id": "1", "filename": "big.iso", "size": 11 * 1024 * 1024}
    discord_cloud.user_message("look", attachments=[att, huge])
    (posted,) = wait_for(lambda: people(gated11), 20, "the message with its file")
    digest = hashlib.sha256(image).hexdigest()
    assert posted["attachments"] == [
        {"sha256": digest, "name": "cat.png", "type": "image/png", "size": len(image)}
    ]
    assert gated11.files[digest] == image
    # the one over the cap is never fetched
    assert [c["id"] for c in discord_cloud.calls("GET /attachments")] == [att["id"]]


def test_file_out_goes_as_a_multipart_attachment(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    data = b"a,b\n1,2\n"
    attachment = {
        "name": "report.csv",
        "type": "text/csv",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(data).decode(),
    }
    resp = gated11.send(send_body("out:2:1", "here", attachments=[attachment]))
    assert resp.status_code == 200, resp.text
    (call,) = discord_cloud.posted()
    assert call["json"]["content"] == "here"
    assert call["json"]["allowed_mentions"] == {"parse": []}
    (sent_file,) = call["files"]
    assert sent_file["filename"] == "report.csv"
    assert base64.b64decode(sent_file["data"]) == data


def test_short_429_is_waited_out_by_discord_py(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    discord_cloud.limit(MESSAGES, times=1, retry_after=1.5)
    resp = gated11.send(send_body("out:3:1", "slow down"))
    assert resp.status_code == 200, resp.text
    calls = discord_cloud.calls(MESSAGES)
    assert [("limited" in c) for c in calls] == [True, False]
    assert calls[1]["at"] - calls[0]["at"] >= 1.5


def test_long_429_reaches_gated_as_retry_after_without_blocking(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    discord_cloud.limit(MESSAGES, times=1, retry_after=120)
    body = send_body("out:4:1", "much later")
    began = time.monotonic()
    first = gated11.send(body)
    assert time.monotonic() - began < 10
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "120"
    again = gated11.send(body)  # gated would wait 120 s; the stand-in's limit is spent
    assert again.status_code == 200, again.text
    assert len(discord_cloud.posted()) == 1


def test_repeated_idempotency_key_posts_once_even_after_a_restart(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    adapter = running(make_discord, gated11)
    body = send_body("out:5:1", "once")
    first = gated11.send(body)
    second = gated11.send(body)
    assert first.status_code == second.status_code == 200
    assert second.json()["remote_id"] == first.json()["remote_id"]
    assert adapter.stop() == 0
    gated11.registrations.clear()
    running(make_discord, gated11)
    assert gated11.send(body).json()["remote_id"] == first.json()["remote_id"]
    assert len(discord_cloud.posted()) == 1


def test_send_and_typing_without_the_secret_are_401(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    body = send_body("out:6:1", "forged")
    assert gated11.send(body, secret=None).status_code == 401
    assert gated11.send(body, secret="x" * 43).status_code == 401
    assert gated11.send(body, secret=SECRET).status_code == 401
    reg = gated11.registration
    typing = httpx.post(f"{reg['url']}/typing", json={"chat_jid": CHAT}, timeout=10)
    assert typing.status_code == 401
    assert discord_cloud.calls(MESSAGES) == []
    assert discord_cloud.calls("POST /channels/{id}/typing") == []


def test_typing_triggers_the_endpoint_in_the_thread(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    running(make_discord, gated11)
    assert gated11.typing(CHAT, str(THREAD_ID)).json() == {"ok": True}
    (call,) = discord_cloud.calls("POST /channels/{id}/typing")
    assert call["channel_id"] == THREAD_ID


def test_dropped_gateway_resumes_and_loses_nothing(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    adapter = running(make_discord, gated11)
    discord_cloud.user_message("before")
    wait_for(lambda: people(gated11), 20, "the first message")
    discord_cloud.gateway(up=False)
    for n in range(3):
        discord_cloud.user_message(f"during {n}")
    discord_cloud.gateway(up=True)
    want = ["before", "during 0", "during 1", "during 2"]
    wait_for(lambda: len(people(gated11)) >= 4, 60, "the missed messages after the resume")
    assert [m["content"] for m in people(gated11)] == want
    (resume,) = discord_cloud.state()["resumes"]
    assert resume["missed"] >= 3
    assert len(discord_cloud.state()["identifies"]) == 1
    adapter.wait_logged("session resumed")


def test_lost_session_and_restart_fetch_what_was_missed_once(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin
) -> None:
    adapter = running(make_discord, gated11)
    discord_cloud.user_message("one")
    discord_cloud.user_message("in thread", channel_id=THREAD_ID)
    wait_for(lambda: len(people(gated11)) == 2, 20, "the first two")
    # the session is gone for good: discord.py identifies again, nothing is replayed
    discord_cloud.gateway(up=False, forget=True)
    discord_cloud.user_message("two")
    discord_cloud.gateway(up=True)
    wait_for(lambda: len(people(gated11)) == 3, 60, "the message sent meanwhile")
    # gated stops storing, the adapter is killed, then comes back
    gated11.fail_messages = 10**6
    discord_cloud.user_message("three")
    wait_for(lambda: "message post failed" in adapter.log(), 20, "a failed post")
    adapter.kill()
    gated11.fail_messages = 0
    discord_cloud.user_message("four", channel_id=THREAD_ID)
    discord_cloud.user_message("five")
    running(make_discord, gated11)
    wait_for(lambda: len(people(gated11)) >= 6, 60, "every message at gated")
    # caught up channel by channel (the channel, then its thread), each in order
    assert [m["content"] for m in people(gated11)] == [
        "one",
        "in thread",
        "two",
        "three",
        "five",
        "four",
    ]
    assert len({m["id"] for m in people(gated11)}) == 6


def test_rejected_token_exits_2_with_one_clear_line(
    make_discord: Make, gated11: GatedStandin
) -> None:
    adapter = make_discord(gated11.url)
    adapter.token = "WRONG.token-that-must-not-be-logged"
    adapter.start()
    assert adapter.proc is not None
    assert adapter.proc.wait(timeout=30) == 2
    log = adapter.log()
    assert "Discord rejected the bot token (401 on GET /users/@me): check DISCORD_BOT_TOKEN" in log
    assert "WRONG" not in log
    assert "Traceback" not in log


def test_help_and_missing_token() -> None:
    out = subprocess.run(
        [str(BIN / "switchboard-discord"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0
    assert "DISCORD_BOT_TOKEN" in out.stdout
    assert "SWITCHBOARD_DISCORD_API_BASE" in out.stdout
    env = {"PATH": "/usr/bin:/bin", "SWITCHBOARD_CHANNEL_SECRET": "s"}
    missing = subprocess.run(
        [str(BIN / "switchboard-discord")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert missing.returncode == 2
    assert "DISCORD_BOT_TOKEN is not set" in missing.stderr


def test_say_command_makes_a_user_message_with_a_file(
    make_discord: Make, gated11: GatedStandin, discord_cloud: DiscordStandin, tmp_path: Any
) -> None:
    running(make_discord, gated11)
    note = tmp_path / "note.txt"
    note.write_bytes(b"hello file")
    subprocess.run(
        [
            str(BIN / "python"),
            str(discord_cloud_script()),
            "say",
            "--control",
            discord_cloud.url,
            "--file",
            str(note),
            "said by the kit",
        ],
        check=True,
        timeout=30,
        capture_output=True,
    )
    (posted,) = wait_for(lambda: people(gated11), 20, "the said message")
    assert posted["content"] == "said by the kit"
    assert posted["attachments"][0]["name"] == "note.txt"


def discord_cloud_script() -> Any:
    import discord_standin

    return discord_standin.__file__
