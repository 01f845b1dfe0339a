"""switchboard-slack as a real process between the Slack stand-in (Web API + Socket Mode) and
gated's v1.1 API (testkit.GatedStandin): events in with threads, mentions, edits, deletions and
files, in the order Slack sent them, every envelope acked, the bot's own messages not posted;
/send in threads, mrkdwn with the plain fallback, files by the upload v2 flow, 429 Retry-After,
idempotency keys and the send secret; a dropped socket and a killed adapter that lose and
double nothing; refused tokens."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from slack_process import SlackAdapterProcess
from slack_standin import BOT_TOKEN, BOT_USER, CHANNEL, TEAM, SlackStandin, user_event
from telegram_process import BIN, SECRET
from testkit import GatedStandin, wait_for

Make = Callable[[str], SlackAdapterProcess]
JID = f"slack:{TEAM}:{CHANNEL}"


def running(make_slack_adapter: Make, gated: GatedStandin) -> SlackAdapterProcess:
    adapter = make_slack_adapter(gated.url).start()
    adapter.wait_logged("socket mode connected")
    wait_for(lambda: gated.registrations, 20, "the registration")
    return adapter


def send_body(key: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "chat_jid": JID,
        "id": key.rsplit(":", 1)[0],
        "text": text,
        "format": "slack_mrkdwn",
        "plain": text,
        "reply_to_id": None,
        "seq": 1,
        "part": 1,
        "parts": 1,
        "idempotency_key": key,
        **extra,
    }


def acked(slack: SlackStandin, *envelope_ids: str) -> bool:
    return set(envelope_ids) <= set(slack.state()["acks"])


def test_registers_with_protocol_secret_and_capabilities(
    make_slack_adapter: Make, gated11: GatedStandin
) -> None:
    adapter = running(make_slack_adapter, gated11)
    reg = gated11.registration
    assert reg["name"] == "slack"
    assert reg["url"] == adapter.url
    assert reg["protocol"] == "1.1"
    assert len(reg["send_secret"]) >= 43
    assert reg["capabilities"] == {
        "max_text": 4000,
        "files_in": True,
        "files_out": True,
        "max_file_bytes": 20 * 1024 * 1024,
        "threads": True,
        "typing": False,
        "edits": True,
        "format": "slack_mrkdwn",
    }
    assert adapter.stop() == 0
    log = adapter.log()
    assert adapter.token not in log
    assert adapter.app_token not in log
    assert "ticket=" not in log  # the socket URL is a credential too


def test_thread_reply_with_a_mention_reaches_gated_acked_and_the_reply_goes_in_the_thread(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    sent = slack.user_message(f"<@{BOT_USER}> hi", thread_ts="1700000000.000100")
    (posted,) = wait_for(lambda: gated11.posted(JID), 20, "the thread message at gated")
    assert posted["id"] == sent["ts"]
    assert posted["thread_id"] == "1700000000.000100"
    assert posted["mentions_bot"] is True
    assert posted["is_group"] is True
    assert posted["sender"] == "U0ALICE"
    assert posted["content"] == f"<@{BOT_USER}> hi"
    wait_for(lambda: acked(slack, sent["envelope_id"]), 10, "the ack")
    resp = gated11.send(send_body("out:1:1", "*echo*: hi", thread_id="1700000000.000100"))
    assert resp.status_code == 200, resp.text
    (out,) = slack.posted()
    assert out["channel"] == CHANNEL
    assert out["thread_ts"] == "1700000000.000100"
    assert out["text"] == "*echo*: hi"
    assert out["mrkdwn"] is True
    assert resp.json()["remote_id"] == out["answer"]["ts"]


def test_app_mention_and_its_message_are_one_message_and_plain_talk_is_no_mention(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    first = slack.user_message("just talking")
    second = slack.user_message(f"hey <@{BOT_USER}|switchboard>")
    slack.event(
        {
            "type": "app_mention",
            "channel": CHANNEL,
            "user": "U0ALICE",
            "team": TEAM,
            "text": f"hey <@{BOT_USER}|switchboard>",
            "ts": second["ts"],
        }
    )
    posted = wait_for(lambda: len(gated11.posted(JID)) >= 2 and gated11.posted(JID), 20)
    wait_for(lambda: len(slack.state()["acks"]) == 3, 10, "three acks")
    assert [p["id"] for p in gated11.posted(JID)] == [first["ts"], second["ts"]]
    assert "mentions_bot" not in posted[0]
    assert posted[1]["mentions_bot"] is True


def test_the_bots_own_messages_are_acked_and_not_posted_to_gated(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    adapter = running(make_slack_adapter, gated11)
    # the reply's echo (Slack sends the app its own messages), and one posted elsewhere
    assert gated11.send(send_body("out:own:1", "my own words")).status_code == 200
    slack.event(
        {"type": "message", "channel": CHANNEL, "bot_id": "B0BOT", "text": "other", "team": TEAM}
    )
    slack.user_message("a person")
    wait_for(lambda: gated11.posted(JID), 20, "the person's message")
    wait_for(lambda: not slack.state()["pending"], 10, "every envelope acked")
    assert [p["content"] for p in gated11.posted()] == ["a person"]
    assert adapter.proc is not None
    assert adapter.proc.poll() is None


def test_edit_and_delete_are_posted_with_their_verbs_and_targets(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    original = slack.user_message("teh typo")
    ts = original["ts"]
    user = {"type": "message", "user": "U0ALICE", "team": TEAM, "ts": ts}
    slack.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": CHANNEL,
            "channel_type": "channel",
            "message": {
                **user,
                "text": "the typo",
                "edited": {"user": "U0ALICE", "ts": "1800000000.000001"},
            },
            "previous_message": {**user, "text": "teh typo"},
        }
    )
    # an unfurl changes the message too, without `edited`: not an edit
    slack.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": CHANNEL,
            "message": {**user, "text": "the typo", "attachments": [{"title": "x"}]},
            "previous_message": {**user, "text": "the typo"},
        }
    )
    slack.event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": CHANNEL,
            "channel_type": "channel",
            "deleted_ts": ts,
            "previous_message": {**user, "text": "the typo"},
        }
    )
    posted = wait_for(lambda: len(gated11.posted(JID)) >= 3 and gated11.posted(JID), 20)
    wait_for(lambda: not slack.state()["pending"], 10, "every envelope acked")
    assert len(gated11.posted(JID)) == 3
    message, edit, deletion = posted
    assert message["id"] == ts
    assert edit["verb"] == "edit"
    assert edit["target_id"] == ts
    assert edit["id"] == f"{ts}:edit:1800000000.000001"
    assert edit["content"] == "the typo"
    assert deletion["verb"] == "delete"
    assert deletion["target_id"] == ts
    assert deletion["content"] == "(deleted)"


def test_events_sent_back_to_back_reach_gated_in_the_order_slack_sent_them(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    # Bolt handles each envelope in a task of its own, and its first look at each one calls
    # auth.test: with Slack's answers coming back in their own time, the tasks finish in any order.
    slack.latency(0.05)
    running(make_slack_adapter, gated11)
    ts = "1700000000.000001"
    user = {"type": "message", "user": "U0ALICE", "team": TEAM, "ts": ts}
    edit = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": CHANNEL,
        "message": {**user, "text": "v2", "edited": {"user": "U0ALICE", "ts": ts}},
        "previous_message": {**user, "text": "v1"},
    }
    deletion = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": CHANNEL,
        "deleted_ts": ts,
        "previous_message": {**user, "text": "v2"},
    }
    burst = [user_event(f"m{n}") for n in range(20)]
    # one control call: the envelopes follow each other on the socket within a millisecond
    slack.events([user_event("v1", ts=ts), edit, deletion, *burst])
    wait_for(lambda: len(gated11.posted(JID)) >= 23, 20, "the first burst")
    wait_for(lambda: not slack.state()["pending"], 10, "every envelope acked")
    assert [(p.get("verb"), p["content"]) for p in gated11.posted(JID)] == [
        (None, "v1"),
        ("edit", "v2"),
        ("delete", "(deleted)"),
        *[(None, f"m{n}") for n in range(20)],
    ]
    # a second burst, once Bolt has its auth.test answer cached, keeps its order too
    slack.events([user_event(f"n{n}") for n in range(20)])
    wait_for(lambda: len(gated11.posted(JID)) >= 43, 20, "the second burst")
    assert [p["content"] for p in gated11.posted(JID)[23:]] == [f"n{n}" for n in range(20)]


def test_shared_file_is_fetched_with_the_token_and_uploaded_to_gated(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    data = b"\x89PNG fake image bytes" * 100
    meta = slack.add_file("cat.png", data)
    slack.user_message("look", subtype="file_share", files=[meta])
    (posted,) = wait_for(lambda: gated11.posted(JID), 20, "the file message at gated")
    digest = hashlib.sha256(data).hexdigest()
    assert posted["content"] == "look"
    assert posted["attachments"] == [
        {"sha256": digest, "name": "cat.png", "type": "image/png", "size": len(data)}
    ]
    assert gated11.files[digest] == data
    assert [c["file"] for c in slack.calls("files.info")] == [meta["id"]]
    (download,) = slack.calls("download")
    assert download["auth"] == f"Bearer {BOT_TOKEN}"


def test_a_file_url_off_slacks_file_host_never_gets_the_token(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin, tmp_path: Path
) -> None:
    """A hostile event (or files.info answer) pointing url_private elsewhere: not fetched."""
    seen: list[str | None] = []

    async def trap(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(body=b"stolen")

    trap_server = GatedStandin(SECRET)  # only for its loop thread
    trap_server.start()
    try:
        import asyncio

        async def serve() -> tuple[web.AppRunner, int]:
            app = web.Application()
            app.router.add_get("/{tail:.*}", trap)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return runner, runner.addresses[0][1]

        runner, port = asyncio.run_coroutine_threadsafe(serve(), trap_server.loop).result(10)
        running(make_slack_adapter, gated11)
        meta = slack.add_file("evil.txt", b"data")
        # the event's own URL is never used (files.info is asked) ...
        event_meta = {**meta, "url_private": f"http://127.0.0.1:{port}/x"}
        slack.user_message("one", subtype="file_share", files=[event_meta])
        # ... and a file Slack does not know is not fetched at all
        slack.user_message(
            "two",
            subtype="file_share",
            files=[{"id": "FNOPE", "name": "n.txt", "url_private": f"http://127.0.0.1:{port}/"}],
        )
        posted = wait_for(lambda: len(gated11.posted(JID)) == 2 and gated11.posted(JID), 20)
        assert "attachments" in posted[0]
        assert "attachments" not in posted[1]
        assert seen == []
        asyncio.run_coroutine_threadsafe(runner.cleanup(), trap_server.loop).result(10)
    finally:
        trap_server.close()


def test_file_over_the_cap_is_not_fetched_and_the_message_still_goes(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    big = {
        "id": "FBIG",
        "name": "big.iso",
        "mimetype": "application/octet-stream",
        "size": 21 * 1024 * 1024,
    }
    slack.user_message("too big", subtype="file_share", files=[big])
    (posted,) = wait_for(lambda: gated11.posted(JID), 20, "the message at gated")
    assert posted["content"] == "too big"
    assert "attachments" not in posted
    assert slack.calls("files.info") == []
    assert slack.calls("download") == []


def test_file_out_goes_by_the_upload_v2_flow_in_the_thread(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    data = b"a,b\n1,2\n"
    attachment = {
        "name": "report.csv",
        "type": "text/csv",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(data).decode(),
    }
    body = send_body("out:2:1", "here", thread_id="1700000000.000200", attachments=[attachment])
    resp = gated11.send(body)
    assert resp.status_code == 200, resp.text
    (get_url,) = slack.calls("files.getUploadURLExternal")
    assert get_url["filename"] == "report.csv"
    assert int(get_url["length"]) == len(data)
    (upload,) = slack.calls("upload")
    assert base64.b64decode(slack.state()["uploads"][upload["file_id"]]) == data
    (complete,) = slack.calls("files.completeUploadExternal")
    assert complete["channel_id"] == CHANNEL
    assert complete["thread_ts"] == "1700000000.000200"
    assert [f["id"] for f in complete["files"]] == [upload["file_id"]]
    assert [(m["text"], m["thread_ts"]) for m in slack.posted()] == [("here", "1700000000.000200")]


def test_plain_body_and_refused_mrkdwn_go_as_escaped_plain_text(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    slack.fail("chat.postMessage", "invalid_blocks")
    resp = gated11.send(send_body("out:md:1", "*bold*", plain="bold <!channel> & co"))
    assert resp.status_code == 200, resp.text
    plain = {k: v for k, v in send_body("out:pl:1", "a <@U0ALICE> b").items() if k != "format"}
    plain.pop("plain")
    assert gated11.send(plain).status_code == 200
    refused = [c for c in slack.calls("chat.postMessage") if "failed" in c]
    assert len(refused) == 1
    assert [(m["text"], m["mrkdwn"]) for m in slack.posted()] == [
        ("bold &lt;!channel&gt; &amp; co", False),
        ("a &lt;@U0ALICE&gt; b", False),
    ]


def test_an_agent_cannot_ping_the_whole_channel_through_mrkdwn(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    text = "<!channel> <!here|here> <!subteam^S1|@all> hi <@U0ALICE> <https://x.org|x>"
    assert gated11.send(send_body("out:ping:1", text)).status_code == 200
    (out,) = slack.posted()
    assert out["text"] == (
        "&lt;!channel&gt; &lt;!here|here&gt; &lt;!subteam^S1|@all&gt; hi <@U0ALICE> "
        "<https://x.org|x>"
    )


def test_rate_limit_retry_after_reaches_gated_and_is_honoured(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=2)
    body = send_body("out:3:1", "slow down")
    first = gated11.send(body)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "2"
    time.sleep(float(first.headers["Retry-After"]))  # gated v1.1 waits Retry-After; as it does
    again = gated11.send(body)
    assert again.status_code == 200, again.text
    calls = slack.calls("chat.postMessage")
    assert [("failed" in c) for c in calls] == [True, False]
    assert calls[1]["at"] - calls[0]["at"] >= 2.0


def test_repeated_idempotency_key_posts_once_even_after_a_restart(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    adapter = running(make_slack_adapter, gated11)
    body = send_body("out:4:1", "once")
    first = gated11.send(body)
    second = gated11.send(body)
    assert first.status_code == second.status_code == 200
    assert second.json()["remote_id"] == first.json()["remote_id"]
    assert adapter.stop() == 0
    gated11.registrations.clear()
    running(make_slack_adapter, gated11)
    third = gated11.send(body)
    assert third.json()["remote_id"] == first.json()["remote_id"]
    assert len(slack.posted()) == 1


def test_send_without_or_with_a_wrong_secret_is_401_and_posts_nothing(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    running(make_slack_adapter, gated11)
    body = send_body("out:5:1", "forged")
    assert gated11.send(body, secret=None).status_code == 401
    assert gated11.send(body, secret="x" * 43).status_code == 401
    assert gated11.send(body, secret=SECRET).status_code == 401  # the channel secret is not it
    reg = gated11.registration
    typing = httpx.post(f"{reg['url']}/typing", json={"chat_jid": JID}, timeout=10)
    assert typing.status_code == 401
    assert slack.calls("chat.postMessage") == []


def test_dropped_socket_reconnects_and_loses_nothing(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    adapter = running(make_slack_adapter, gated11)
    slack.user_message("before")
    wait_for(lambda: gated11.posted(JID), 20, "the first message")
    assert slack.drop("close") == 1
    slack.user_message("while down")
    wait_for(lambda: slack.state()["connections"] >= 2, 20, "a new socket")
    assert slack.drop("disconnect") == 1  # Slack's own refresh: the client opens another
    slack.user_message("after refresh")
    want = ["before", "while down", "after refresh"]
    wait_for(lambda: len(gated11.posted(JID)) >= 3, 30, "every message at gated")
    assert [m["content"] for m in gated11.posted(JID)] == want
    wait_for(lambda: slack.state()["connections"] >= 3, 20, "the refreshed socket")
    wait_for(lambda: not slack.state()["pending"], 10, "every envelope acked")
    assert len(slack.calls("apps.connections.open")) >= 4  # the check, then one per socket
    assert adapter.proc is not None
    assert adapter.proc.poll() is None


def test_killed_and_restarted_adapter_loses_and_doubles_no_message(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    adapter = running(make_slack_adapter, gated11)
    for n in range(3):
        slack.user_message(f"before {n}")
    wait_for(lambda: len(gated11.posted()) == 3, 20, "the first three at gated")
    # gated goes away: the next events are acked into the inbox but not stored; then a kill.
    gated11.fail_messages = 10**6
    during = [slack.user_message(f"during {n}") for n in range(3)]
    wait_for(lambda: acked(slack, *(d["envelope_id"] for d in during)), 20, "acks")
    wait_for(lambda: "message post failed" in adapter.log(), 20, "a failed post")
    adapter.kill()
    gated11.fail_messages = 0
    slack.user_message("after")
    running(make_slack_adapter, gated11)
    want = [f"before {n}" for n in range(3)] + [f"during {n}" for n in range(3)] + ["after"]
    wait_for(lambda: len(gated11.posted()) >= 7, 20, "every message at gated")
    assert [m["content"] for m in gated11.posted()] == want


def test_rejected_bot_token_exits_2_with_one_clear_line(
    make_slack_adapter: Make, gated11: GatedStandin
) -> None:
    adapter = make_slack_adapter(gated11.url)
    adapter.token = "xoxb-WRONG-token-that-must-not-be-logged"
    adapter.start()
    assert adapter.proc is not None
    assert adapter.proc.wait(timeout=30) == 2
    log = adapter.log()
    assert "Slack rejected the token (invalid_auth on auth.test): check SLACK_BOT_TOKEN" in log
    assert "WRONG-token" not in log
    assert "Traceback" not in log


def test_rejected_app_token_exits_2_naming_it(
    make_slack_adapter: Make, gated11: GatedStandin
) -> None:
    adapter = make_slack_adapter(gated11.url)
    adapter.app_token = "xapp-WRONG-app-token-not-logged"
    adapter.start()
    assert adapter.proc is not None
    assert adapter.proc.wait(timeout=30) == 2
    log = adapter.log()
    assert (
        "Slack rejected the token (invalid_auth on apps.connections.open): check SLACK_APP_TOKEN"
        in log
    )
    assert "WRONG-app-token" not in log


def test_tokens_of_the_wrong_kind_exit_2_before_any_call(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin
) -> None:
    adapter = make_slack_adapter(gated11.url)
    adapter.token, adapter.app_token = adapter.app_token, adapter.token  # swapped
    adapter.start()
    assert adapter.proc is not None
    assert adapter.proc.wait(timeout=30) == 2
    assert "SLACK_BOT_TOKEN is not a bot token (it must start with xoxb-)" in adapter.log()
    assert slack.calls() == []


def test_help_and_missing_tokens() -> None:
    out = subprocess.run(
        [str(BIN / "switchboard-slack"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0
    assert "SLACK_BOT_TOKEN" in out.stdout
    assert "SLACK_APP_TOKEN" in out.stdout
    base = {"PATH": "/usr/bin:/bin", "SWITCHBOARD_CHANNEL_SECRET": "s"}
    for env, missing in [
        (base, "SLACK_BOT_TOKEN is not set"),
        ({**base, "SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN is not set"),
    ]:
        got = subprocess.run(
            [str(BIN / "switchboard-slack"), "--state-dir", "/nonexistent/never"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
        )
        assert got.returncode == 2, got.stderr
        assert missing in got.stderr


def test_say_command_line_delivers_a_message_with_a_file(
    make_slack_adapter: Make, gated11: GatedStandin, slack: SlackStandin, tmp_path: Path
) -> None:
    running(make_slack_adapter, gated11)
    path = tmp_path / "note.txt"
    path.write_bytes(b"from the conformance kit")
    script = Path(__file__).with_name("slack_standin.py")
    subprocess.run(
        [
            sys.executable,
            str(script),
            "say",
            "--control",
            slack.url,
            "hello kit",
            "--file",
            str(path),
        ],
        check=True,
        timeout=30,
        capture_output=True,
    )
    (posted,) = wait_for(lambda: gated11.posted(JID), 20, "the said message")
    assert posted["content"] == "hello kit"
    assert posted["attachments"][0]["name"] == "note.txt"
    assert gated11.files[posted["attachments"][0]["sha256"]] == b"from the conformance kit"
