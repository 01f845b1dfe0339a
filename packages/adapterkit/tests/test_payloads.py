"""The two JSON directions: whatever a platform reports, the /v1/messages body is one gated's
validator accepts (Hypothesis); a /send body is decoded or refused naming the field."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from adapterkit.model import Inbound, InFile
from adapterkit.payloads import BadSend, decode_send, inbound_payload
from gated.channel_models import MessageIn
from hypothesis import given
from hypothesis import strategies as st

texts = st.text(max_size=600)


@given(
    content=texts,
    sender=st.none() | texts,
    name=st.none() | texts,
    reply=st.none() | texts,
    msg_id=st.text(min_size=1, max_size=600),
    files=st.lists(texts.map(lambda n: InFile(n, "text/plain", b"x")), max_size=2),
    verb=st.sampled_from(["message", "edit", "delete"]),
)
def test_any_inbound_becomes_a_body_gated_accepts(
    content: str,
    sender: str | None,
    name: str | None,
    reply: str | None,
    msg_id: str,
    files: list[InFile],
    verb: Any,
) -> None:
    msg = Inbound(
        chat_jid="tg:42",
        id=msg_id,
        content=content,
        sender=sender,
        sender_name=name,
        chat_name=name,
        reply_to_id=reply,
        timestamp=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        verb=verb,
        files=tuple(files),
    )
    body = inbound_payload(msg, [])
    MessageIn.model_validate(body)  # raises when gated would answer 422
    assert body["content"].strip()


def test_v1_1_fields_only_when_set() -> None:
    plain = inbound_payload(Inbound(chat_jid="tg:1", id="1", content="hi"), [])
    assert plain == {"chat_jid": "tg:1", "id": "1", "content": "hi", "is_group": False}
    full = inbound_payload(
        Inbound(
            chat_jid="tg:1",
            id="2",
            content="x",
            thread_id="7",
            mentions_bot=True,
            from_bot=True,
            verb="edit",
            target_id="1",
        ),
        [],
    )
    assert full["thread_id"] == "7"
    assert (full["mentions_bot"], full["from_bot"], full["verb"], full["target_id"]) == (
        True,
        True,
        "edit",
        "1",
    )


def body(**extra: Any) -> dict[str, Any]:
    return {"chat_jid": "tg:42", "id": "out:1", "text": "hi", "part": 1, "parts": 1, **extra}


def test_v1_0_body_gets_a_key_and_plain_format() -> None:
    out = decode_send(body(), "tg", 100)
    assert (out.idempotency_key, out.format, out.plain) == ("out:1:1", "plain", "hi")


def test_files_are_decoded_within_the_cap() -> None:
    data = b"hello"
    entry = {
        "name": "a.txt",
        "type": "text/plain",
        "data": base64.b64encode(data).decode(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    out = decode_send(body(attachments=[entry]), "tg", 5)
    assert out.files[0].data == data
    with pytest.raises(BadSend, match="over this channel"):
        decode_send(body(attachments=[entry]), "tg", 4)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"chat_jid": "slack:C1"}, "chat_jid"),
        ({"chat_jid": "tg:"}, "chat_jid"),
        ({"text": 5}, "text"),
        ({"part": 3}, "part"),
        ({"part": True}, "part"),
        ({"attachments": [{"name": "a", "data": "!!!"}]}, "attachments[0].data"),
        ({"attachments": [{"name": "a"}]}, "attachments[0].data"),
        (
            {"attachments": [{"name": "a", "data": "aGk=", "sha256": "00" * 32}]},
            "attachments[0].sha256",
        ),
        ({"thread_id": ""}, "thread_id"),
    ],
)
def test_bad_send_bodies_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(BadSend) as caught:
        decode_send(body(**change), "tg", 100)
    assert caught.value.field == field
