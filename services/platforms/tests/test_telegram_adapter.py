"""switchboard-telegram as a real process between the Telegram stand-in and gated's v1.1 API
(testkit.GatedStandin): inbound with topics, mentions, photos and edits; /send with topics,
MarkdownV2 fallback, documents, 429 retry_after, idempotency keys and the send secret; a
restart that loses and doubles nothing; a refused token."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
from telegram_process import BIN, SECRET, AdapterProcess, free_port
from telegram_standin import BOT_ID, BOT_USERNAME, TelegramStandin
from testkit import GatedStandin, wait_for

Make = Callable[[str], AdapterProcess]


def running(make_adapter: Make, gated: GatedStandin) -> AdapterProcess:
    adapter = make_adapter(gated.url).start()
    adapter.wait_logged("connected to Telegram")
    wait_for(lambda: gated.registrations, 20, "the registration")
    return adapter


def send_body(key: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "chat_jid": "tg:42",
        "id": key.rsplit(":", 1)[0],
        "text": text,
        "format": "telegram_markdown_v2",
        "plain": text,
        "reply_to_id": None,
        "seq": 1,
        "part": 1,
        "parts": 1,
        "idempotency_key": key,
        **extra,
    }


def test_registers_with_protocol_secret_and_capabilities(
    make_adapter: Make, gated11: GatedStandin
) -> None:
    adapter = running(make_adapter, gated11)
    reg = gated11.registration
    assert reg["name"] == "tg"
    assert reg["url"] == adapter.url
    assert reg["protocol"] == "1.1"
    assert len(reg["send_secret"]) >= 43
    assert reg["capabilities"] == {
        "max_text": 4096,
        "files_in": True,
        "files_out": True,
        "max_file_bytes": 20 * 1024 * 1024,
        "threads": True,
        "typing": True,
        "edits": True,
        "format": "telegram_markdown_v2",
    }
    assert adapter.stop() == 0
    assert adapter.token not in adapter.log()


def test_forum_topic_message_reaches_gated_with_thread_and_reply_goes_back_in_it(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    telegram.user_message(
        -1001,
        "hi @" + BOT_USERNAME,
        message_thread_id=77,
        is_topic_message=True,
        entities=[{"type": "mention", "offset": 3, "length": len(BOT_USERNAME) + 1}],
    )
    posted = wait_for(lambda: gated11.posted("tg:-1001"), 20, "the topic message at gated")
    assert posted[0]["thread_id"] == "77"
    assert posted[0]["mentions_bot"] is True
    assert posted[0]["is_group"] is True
    assert posted[0]["chat_name"] == "Team"
    resp = gated11.send(send_body("out:1:1", "echo: hi", chat_jid="tg:-1001", thread_id="77"))
    assert resp.status_code == 200, resp.text
    (sent,) = telegram.messages()
    assert sent["chat_id"] == "-1001"
    assert sent["message_thread_id"] == "77"
    assert sent["parse_mode"] == "MarkdownV2"
    assert resp.json()["remote_id"] == str(sent["message_id"])


def test_reply_to_the_bot_counts_as_a_mention_and_plain_messages_do_not(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    bot_msg = {
        "message_id": 5,
        "date": int(time.time()),
        "chat": {"id": 42, "type": "private"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Switchboard"},
        "text": "hey",
    }
    telegram.user_message(42, "answering you", reply_to_message=bot_msg)
    telegram.user_message(42, "just talking")
    posted = wait_for(lambda: len(gated11.posted("tg:42")) == 2 and gated11.posted("tg:42"), 20)
    assert posted[0]["mentions_bot"] is True
    assert posted[0]["reply_to_id"] == "5"
    assert "mentions_bot" not in posted[1]


def test_edit_is_posted_as_verb_edit_of_its_message(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    chat = {"id": 42, "type": "private", "first_name": "Alice"}
    user = {"id": 4242, "is_bot": False, "first_name": "Alice"}
    telegram.update(
        {
            "edited_message": {
                "message_id": 31,
                "date": int(time.time()) - 5,
                "chat": chat,
                "from": user,
                "text": "fixed typo",
                "edit_date": int(time.time()),
            }
        }
    )
    (posted,) = wait_for(lambda: gated11.posted("tg:42"), 20, "the edit at gated")
    assert posted["verb"] == "edit"
    assert posted["target_id"] == "31"
    assert posted["id"].startswith("31:edit:")
    assert posted["content"] == "fixed typo"


def test_photo_is_downloaded_and_uploaded_to_gated(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    image = b"\x89PNG fake image bytes" * 100
    file_id = telegram.add_file(image)
    telegram.user_message(
        42,
        None,
        caption="look",
        photo=[
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
            {
                "file_id": file_id,
                "file_unique_id": "b",
                "width": 800,
                "height": 600,
                "file_size": len(image),
            },
        ],
    )
    (posted,) = wait_for(lambda: gated11.posted("tg:42"), 20, "the photo message at gated")
    digest = hashlib.sha256(image).hexdigest()
    assert posted["content"] == "look"
    assert posted["attachments"] == [
        {
            "sha256": digest,
            "name": f"photo-{posted['id']}.jpg",
            "type": "image/jpeg",
            "size": len(image),
        }
    ]
    assert gated11.files[digest] == image
    assert [c["file_id"] for c in telegram.calls("getFile")] == [file_id]  # the largest only


def test_file_over_the_cap_is_not_fetched_and_the_message_still_goes(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    big = {
        "file_id": "huge",
        "file_unique_id": "h",
        "file_name": "big.iso",
        "mime_type": "application/octet-stream",
        "file_size": 21 * 1024 * 1024,
    }
    telegram.user_message(42, None, caption="too big", document=big)
    (posted,) = wait_for(lambda: gated11.posted("tg:42"), 20, "the message at gated")
    assert posted["content"] == "too big"
    assert "attachments" not in posted
    assert telegram.calls("getFile") == []
    assert gated11.files == {}


def test_file_out_goes_by_send_document_in_the_thread(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    data = b"a,b\n1,2\n"
    attachment = {
        "name": "report.csv",
        "type": "text/csv",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(data).decode(),
    }
    resp = gated11.send(send_body("out:2:1", "here", thread_id="9", attachments=[attachment]))
    assert resp.status_code == 200, resp.text
    (doc,) = telegram.calls("sendDocument")
    assert doc["document"]["filename"] == "report.csv"
    assert base64.b64decode(doc["document"]["data"]) == data
    assert doc["message_thread_id"] == "9"
    assert [m["text"] for m in telegram.messages()] == ["here"]


def test_unparseable_markdown_v2_is_sent_as_plain(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    for n, text in enumerate(["*unclosed bold", "ends with a dot."], 1):
        body = send_body(f"out:md{n}:1", text, plain=f"plain {n}")
        resp = gated11.send(body)
        assert resp.status_code == 200, resp.text
    refused = [c for c in telegram.calls("sendMessage") if "refused" in c]
    assert len(refused) == 2
    sent = telegram.messages()
    assert [(m["text"], m.get("parse_mode")) for m in sent] == [
        ("plain 1", None),
        ("plain 2", None),
    ]


def test_rate_limit_retry_after_reaches_gated_and_is_honoured(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    telegram.limit("sendMessage", times=1, retry_after=2)
    body = send_body("out:3:1", "slow down")
    first = gated11.send(body)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "2"
    # gated v1.1 waits Retry-After before the next try; do as it does.
    time.sleep(float(first.headers["Retry-After"]))
    again = gated11.send(body)
    assert again.status_code == 200, again.text
    calls = telegram.calls("sendMessage")
    assert [("limited" in c) for c in calls] == [True, False]
    assert calls[1]["at"] - calls[0]["at"] >= 2.0


def test_repeated_idempotency_key_posts_once_even_after_a_restart(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    adapter = running(make_adapter, gated11)
    body = send_body("out:4:1", "once")
    first = gated11.send(body)
    second = gated11.send(body)
    assert first.status_code == second.status_code == 200
    assert second.json()["remote_id"] == first.json()["remote_id"]
    assert adapter.stop() == 0
    gated11.registrations.clear()
    running(make_adapter, gated11)
    third = gated11.send(body)
    assert third.json()["remote_id"] == first.json()["remote_id"]
    assert len(telegram.messages()) == 1


def test_send_without_or_with_a_wrong_secret_is_401_and_posts_nothing(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    body = send_body("out:5:1", "forged")
    assert gated11.send(body, secret=None).status_code == 401
    assert gated11.send(body, secret="x" * 43).status_code == 401
    assert gated11.send(body, secret=SECRET).status_code == 401  # the channel secret is not it
    reg = gated11.registration
    typing = httpx.post(f"{reg['url']}/typing", json={"chat_jid": "tg:42"}, timeout=10)
    assert typing.status_code == 401
    assert telegram.calls("sendMessage") == []
    assert telegram.calls("sendChatAction") == []


def test_typing_sends_the_chat_action_in_the_thread(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    running(make_adapter, gated11)
    assert gated11.typing("tg:-1001", "77").status_code == 200
    (action,) = telegram.calls("sendChatAction")
    assert action["action"] == "typing"
    assert action["message_thread_id"] == "77"


def test_killed_and_restarted_adapter_loses_and_doubles_no_update(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    adapter = running(make_adapter, gated11)
    for n in range(3):
        telegram.user_message(42, f"before {n}")
    wait_for(lambda: len(gated11.posted()) == 3, 20, "the first three at gated")
    # gated goes away: the next updates cannot be stored; the adapter is killed meanwhile.
    gated11.fail_messages = 10**6
    for n in range(3):
        telegram.user_message(42, f"during {n}")
    wait_for(lambda: "message post failed" in adapter.log(), 20, "a failed post")
    adapter.kill()
    gated11.fail_messages = 0
    telegram.user_message(42, "after")
    running(make_adapter, gated11)
    want = [f"before {n}" for n in range(3)] + [f"during {n}" for n in range(3)] + ["after"]
    wait_for(lambda: len(gated11.posted()) >= 7, 20, "every message at gated")
    assert [m["content"] for m in gated11.posted()] == want
    offsets = [c["offset"] for c in telegram.calls("getUpdates")]
    assert offsets == sorted(offsets)


def test_gated_down_at_start_is_waited_for_and_a_revoked_token_re_registers(
    make_adapter: Make, telegram: TelegramStandin
) -> None:
    gated = GatedStandin(SECRET)
    port = free_port()
    adapter = make_adapter(f"http://127.0.0.1:{port}").start()
    try:
        adapter.wait_logged("gated not reachable for registration")
        gated.start(port)
        wait_for(lambda: gated.registrations, 30, "the registration once gated is up")
        gated.revoke_token()
        telegram.user_message(42, "after revocation")
        wait_for(lambda: gated.posted("tg:42"), 20, "the message after re-registering")
        assert len(gated.registrations) == 2
        assert adapter.stop() == 0
    finally:
        gated.close()


def test_gated_v1_0_means_unauthenticated_send_and_metadata_only_files(
    make_adapter: Make, telegram: TelegramStandin
) -> None:
    gated = GatedStandin(SECRET, protocol="1.0").start()
    try:
        adapter = running(make_adapter, gated)
        adapter.wait_logged("gated speaks protocol 1.0")
        resp = gated.send(
            {
                "chat_jid": "tg:42",
                "id": "out:6",
                "text": "v1.0 body",
                "seq": 1,
                "part": 1,
                "parts": 1,
                "reply_to_id": None,
            },
            secret=None,
        )
        assert resp.status_code == 200, resp.text
        assert [(m["text"], m.get("parse_mode")) for m in telegram.messages()] == [
            ("v1.0 body", None)
        ]
        file_id = telegram.add_file(b"doc bytes")
        telegram.user_message(
            42,
            None,
            document={
                "file_id": file_id,
                "file_unique_id": "d",
                "file_name": "a.txt",
                "mime_type": "text/plain",
                "file_size": 9,
            },
        )
        (posted,) = wait_for(lambda: gated.posted("tg:42"), 20, "the document at gated")
        assert posted["attachments"] == [{"name": "a.txt", "type": "text/plain", "size": 9}]
        assert posted["content"] == "[a.txt]"
        adapter.wait_logged("attachments are sent as metadata only")
    finally:
        gated.close()


def test_gated_v1_1_never_accepts_send_without_the_secret(
    make_adapter: Make, gated11: GatedStandin, telegram: TelegramStandin
) -> None:
    adapter = running(make_adapter, gated11)
    assert "protocol 1.0" not in adapter.log()
    assert gated11.send(send_body("out:7:1", "x"), secret=None).status_code == 401


def test_rejected_token_exits_2_with_one_clear_line(
    make_adapter: Make, gated11: GatedStandin
) -> None:
    adapter = make_adapter(gated11.url)
    adapter.token = "999:WRONG-token-that-must-not-be-logged"
    adapter.start()
    assert adapter.proc is not None
    assert adapter.proc.wait(timeout=30) == 2
    log = adapter.log()
    assert "Telegram rejected the bot token (401 on getMe): check TELEGRAM_BOT_TOKEN" in log
    assert "WRONG-token" not in log
    assert "Traceback" not in log


def test_help_and_missing_token() -> None:
    out = subprocess.run(
        [str(BIN / "switchboard-telegram"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0
    assert "TELEGRAM_BOT_TOKEN" in out.stdout
    env = {"PATH": "/usr/bin:/bin", "SWITCHBOARD_CHANNEL_SECRET": "s"}
    missing = subprocess.run(
        [str(BIN / "switchboard-telegram")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert missing.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in missing.stderr
