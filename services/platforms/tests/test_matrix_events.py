"""The pure Matrix mapping (platforms.matrix_events) and the adapter's pure decisions
(platforms.matrix): jids, mentions, threads, edits, redactions, files, hostile events and mxc
URIs, what the bot sends, and a homeserver's 429 as the kit's TemporaryFailure."""

from __future__ import annotations

from typing import Any

import pytest
from adapterkit import PermanentFailure, TemporaryFailure
from hypothesis import given
from hypothesis import strategies as st
from nio import RoomSendError
from platforms.matrix import MXC_RE, after_own_join, allowed_inviter, failure
from platforms.matrix_events import (
    BotIdentity,
    RoomInfo,
    incoming,
    jid_of,
    room_id_of,
    text_content,
    txn_id,
)

BOT = BotIdentity("@bot:example.org", "Switchboard")
ROOM = RoomInfo("Team", 3, "Alice")
ROOM_ID = "!abc:example.org"


def event(content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": "$e1",
        "sender": "@alice:example.org",
        "origin_server_ts": 1_700_000_000_000,
        "content": content,
        **extra,
    }


def test_room_ids_with_and_without_a_server_name_round_trip() -> None:
    for room_id in ("!abc:example.org", "!Hash-of_the.create+event/v12"):
        assert room_id_of(jid_of(room_id)) == room_id
    for bad in ("tg:42", "matrix:abc", "matrix:!", "matrix:!a b", "matrix:!" + "x" * 300):
        assert room_id_of(bad) is None


def test_a_plain_message_maps_sender_room_and_time() -> None:
    found = incoming(ROOM_ID, event({"msgtype": "m.text", "body": "hi"}), BOT, ROOM)
    assert found is not None
    msg = found.msg
    assert (msg.chat_jid, msg.id, msg.content, msg.sender) == (
        "matrix:!abc:example.org",
        "$e1",
        "hi",
        "@alice:example.org",
    )
    assert (msg.sender_name, msg.chat_name, msg.is_group, msg.mentions_bot) == (
        "Alice",
        "Team",
        True,
        False,
    )
    assert msg.timestamp is not None
    assert msg.timestamp.year == 2023


@pytest.mark.parametrize(
    "content",
    [
        {"msgtype": "m.text", "body": "yo", "m.mentions": {"user_ids": ["@bot:example.org"]}},
        {"msgtype": "m.text", "body": "ask @bot:example.org"},
        {"msgtype": "m.text", "body": "switchboard, help"},
        {
            "msgtype": "m.text",
            "body": "Bot",
            "formatted_body": '<a href="https://matrix.to/#/@bot:example.org">Bot</a>',
        },
    ],
)
def test_mentions_of_the_bot(content: dict[str, Any]) -> None:
    found = incoming(ROOM_ID, event(content), BOT, ROOM)
    assert found is not None
    assert found.msg.mentions_bot


@pytest.mark.parametrize(
    "body", ["switchboards are great", "@bot:example.org.evil", "nothing here"]
)
def test_no_mention_for_lookalikes(body: str) -> None:
    content = {"msgtype": "m.text", "body": body, "m.mentions": {"user_ids": ["@x:y"]}}
    found = incoming(ROOM_ID, event(content), BOT, ROOM)
    assert found is not None
    assert found.msg.mentions_bot is ("@bot:example.org" in body)


def test_a_thread_reply_has_the_root_as_thread_and_no_reply() -> None:
    relates = {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$root"},
    }
    found = incoming(
        ROOM_ID, event({"msgtype": "m.text", "body": "x", "m.relates_to": relates}), BOT, ROOM
    )
    assert found is not None
    assert (found.msg.thread_id, found.msg.reply_to_id) == ("$root", None)


def test_a_reply_drops_the_quoted_fallback() -> None:
    content = {
        "msgtype": "m.text",
        "body": "> <@bob:example.org> earlier\n> more\n\nmy answer",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$earlier"}},
    }
    found = incoming(ROOM_ID, event(content), BOT, ROOM)
    assert found is not None
    assert (found.msg.content, found.msg.reply_to_id) == ("my answer", "$earlier")


def test_edit_and_redaction_in_both_room_versions() -> None:
    edit = event(
        {
            "msgtype": "m.text",
            "body": "* new",
            "m.new_content": {"msgtype": "m.text", "body": "new"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"},
        }
    )
    found = incoming(ROOM_ID, edit, BOT, ROOM)
    assert found is not None
    assert (found.msg.verb, found.msg.target_id, found.msg.content) == ("edit", "$old", "new")
    for redaction in (
        {"type": "m.room.redaction", "redacts": "$old", "content": {}},
        {"type": "m.room.redaction", "content": {"redacts": "$old"}},
    ):
        got = incoming(ROOM_ID, {**event({}), **redaction}, BOT, ROOM)
        assert got is not None
        assert (got.msg.verb, got.msg.target_id) == ("delete", "$old")


def test_files_caption_and_name() -> None:
    content = {
        "msgtype": "m.image",
        "body": "look at this",
        "filename": "cat.png",
        "url": "mxc://example.org/AbC_1-2",
        "info": {"mimetype": "image/png", "size": 12},
    }
    found = incoming(ROOM_ID, event(content), BOT, ROOM)
    assert found is not None
    assert found.msg.content == "look at this"
    (ref,) = found.files
    assert (ref.mxc, ref.name, ref.type, ref.size) == (
        "mxc://example.org/AbC_1-2",
        "cat.png",
        "image/png",
        12,
    )
    plain = {"msgtype": "m.file", "body": "a.txt", "url": "mxc://example.org/x"}
    got = incoming(ROOM_ID, event(plain), BOT, ROOM)
    assert got is not None
    assert got.msg.content == ""
    assert got.files[0].name == "a.txt"


def test_the_bots_own_state_and_other_events_are_not_messages() -> None:
    assert incoming(ROOM_ID, event({"body": "x"}, sender=BOT.user_id), BOT, ROOM) is None
    assert incoming(ROOM_ID, event({"membership": "join"}, state_key="@a:b"), BOT, ROOM) is None
    assert incoming(ROOM_ID, {**event({}), "type": "m.reaction"}, BOT, ROOM) is None
    assert incoming(ROOM_ID, event({}), BOT, ROOM) is None  # redacted: no content


def test_malformed_mxc_uris_are_never_fetched() -> None:
    assert MXC_RE.fullmatch("mxc://example.org/AbC_1-2")
    for bad in (
        "mxc://example.org/../../admin",
        "mxc://example.org/a/b",
        "mxc://example.org/a?x=1",
        "mxc://evil.org@example.org/a",
        "https://example.org/a",
    ):
        assert MXC_RE.fullmatch(bad) is None, bad


@given(
    st.dictionaries(
        st.text(max_size=20),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=30),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=10), inner, max_size=3)
            ),
            max_leaves=10,
        ),
    )
)
def test_any_json_event_maps_or_is_skipped_without_raising(raw: dict[str, Any]) -> None:
    for candidate in (raw, {**event({}), **raw}, event(raw)):
        incoming(ROOM_ID, candidate, BOT, ROOM)


def test_what_the_bot_sends() -> None:
    html = text_content("<b>hi</b>", "matrix_html", "hi", "$root", None)
    assert html == {
        "msgtype": "m.text",
        "body": "hi",
        "format": "org.matrix.custom.html",
        "formatted_body": "<b>hi</b>",
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": "$root",
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": "$root"},
        },
    }
    assert text_content("plain <b>", "plain", "plain <b>", None, None) == {
        "msgtype": "m.text",
        "body": "plain <b>",
    }
    assert txn_id("out:1:1", 0) == txn_id("out:1:1", 0) != txn_id("out:1:1", 1)


def test_history_before_the_bots_join_is_skipped_but_a_profile_change_is_no_join() -> None:
    join = {"type": "m.room.member", "state_key": BOT.user_id, "content": {"membership": "join"}}
    rename = {**join, "unsigned": {"prev_content": {"membership": "join"}}}
    old, new = event({"body": "old"}), event({"body": "new"})
    assert after_own_join([old, join, new], BOT.user_id) == [new]
    assert after_own_join([old, rename, new], BOT.user_id) == [old, rename, new]


def test_invite_allow_list() -> None:
    assert allowed_inviter("@eve:evil.org", ())
    allow = ("@alice:example.org", ":friends.org")
    assert allowed_inviter("@alice:example.org", allow)
    assert allowed_inviter("@bob:friends.org", allow)
    assert not allowed_inviter("@bob:notfriends.org.evil", allow)
    assert not allowed_inviter("@mallory:example.org", allow)
    assert not allowed_inviter(None, allow)


def test_a_429_is_temporary_with_retry_after_and_a_403_permanent() -> None:
    limited = failure(RoomSendError("Too Many Requests", "M_LIMIT_EXCEEDED", 1500), "it")
    assert isinstance(limited, TemporaryFailure)
    assert limited.retry_after == 1.5
    forbidden = RoomSendError("not in room", "M_FORBIDDEN")
    forbidden.transport_response = type("R", (), {"status": 403})()
    assert isinstance(failure(forbidden, "it"), PermanentFailure)
    assert isinstance(failure(RoomSendError("down", None), "it"), TemporaryFailure)
