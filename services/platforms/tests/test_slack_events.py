"""platforms.slack_events on its own: jids, threads, mentions, own messages, edits, deletions,
files, and the escaping of outgoing text (Hypothesis for the parsers and escapers)."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from platforms.slack_events import (
    BotIdentity,
    channel_of,
    defuse_mrkdwn,
    escape_plain,
    incoming,
)

BOT = BotIdentity(team_id="T1", user_id="UBOT", bot_id="BBOT")


def payload(**event: Any) -> dict[str, Any]:
    base = {"type": "message", "channel": "C1", "user": "U2", "ts": "1700000000.000100"}
    return {"type": "event_callback", "team_id": "T1", "event": {**base, **event}}


def test_message_in_a_thread_with_a_mention() -> None:
    found = incoming(payload(text="<@UBOT> hi", thread_ts="1690000000.000001"), BOT)
    assert found is not None
    assert found.msg.chat_jid == "slack:T1:C1"
    assert found.msg.id == "1700000000.000100"
    assert found.msg.thread_id == "1690000000.000001"
    assert found.msg.mentions_bot
    assert found.msg.is_group


def test_direct_message_is_not_a_group_and_plain_text_no_mention() -> None:
    found = incoming(payload(channel="D9", channel_type="im", text="hello UBOT"), BOT)
    assert found is not None
    assert not found.msg.is_group
    assert not found.msg.mentions_bot


def test_own_messages_joins_and_other_events_are_not_taken() -> None:
    assert incoming(payload(bot_id="BBOT", text="mine"), BOT) is None
    assert incoming(payload(user="UBOT", text="mine"), BOT) is None
    assert incoming(payload(subtype="channel_join", text="joined"), BOT) is None
    assert incoming({"type": "event_callback", "event": {"type": "reaction_added"}}, BOT) is None
    edited_own = payload(
        subtype="message_changed",
        message={"bot_id": "BBOT", "ts": "1.1", "text": "x", "edited": {"ts": "2.2"}},
    )
    assert incoming(edited_own, BOT) is None


def test_edit_without_edited_is_an_unfurl_not_an_edit() -> None:
    unfurl = payload(subtype="message_changed", message={"user": "U2", "ts": "1.1", "text": "x"})
    assert incoming(unfurl, BOT) is None


def test_bad_ids_are_refused() -> None:
    assert incoming(payload(channel="c1:../x"), BOT) is None
    assert incoming(payload(ts="not-a-ts"), BOT) is None
    assert channel_of("slack:T1:C1") == "C1"
    for bad in ("slack:T1", "tg:1", "slack:T1:C1:x", "slack:t1:C1", "slack::C1"):
        assert channel_of(bad) is None


def test_files_skip_tombstones_and_keep_sizes() -> None:
    files = [
        {"id": "F1", "name": "a.png", "mimetype": "image/png", "size": 3},
        {"id": "F2", "mode": "tombstone"},
        {"id": "../etc", "name": "x"},
        "junk",
    ]
    found = incoming(payload(subtype="file_share", files=files), BOT)
    assert found is not None
    assert [(f.file_id, f.name, f.type, f.size) for f in found.files] == [
        ("F1", "a.png", "image/png", 3)
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
event_keys = st.sampled_from(
    [
        "type",
        "subtype",
        "channel",
        "team",
        "user",
        "bot_id",
        "ts",
        "thread_ts",
        "text",
        "files",
        "message",
        "previous_message",
        "deleted_ts",
        "edited",
        "channel_type",
    ]
)


@given(st.dictionaries(event_keys, json_values, max_size=10), json_values)
def test_any_event_maps_or_is_refused_never_raises(event: dict[str, Any], team: Any) -> None:
    for kind in ("message", "app_mention", event.get("type")):
        body = {"type": "event_callback", "team_id": team, "event": {**event, "type": kind}}
        found = incoming(body, BOT)
        if found is not None:
            assert channel_of(found.msg.chat_jid) is not None


@given(st.text())
def test_plain_text_never_keeps_markup(text: str) -> None:
    out = escape_plain(text)
    assert "<" not in out
    assert ">" not in out
    assert out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


@given(st.text(alphabet=st.sampled_from(list("<>!@|^&abcU1 "))))
def test_mrkdwn_never_keeps_a_special_mention(text: str) -> None:
    # Slack reads `<!…>` (no `<` or `>` inside) as a broadcast; none is left.
    assert re.search(r"<![^<>]*>", defuse_mrkdwn(text)) is None
