"""POST /v1/messages with adapter protocol 1.1's fields: a thread is a topic, a mention and a
bot's own echo are recorded as such, edits and deletes keep their target, and an attachment
must name a file uploaded before (checked, else 422 on `attachments`)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import store
from fastapi.testclient import TestClient
from gated.planning import is_trigger, session_topic
from gated_channels_support import register


def post(client: TestClient, token: str, **fields: Any) -> Any:
    body = {"chat_jid": "chatx:room", "id": "m1", "content": "hello", **fields}
    return client.post("/v1/messages", json=body, headers={"Authorization": f"Bearer {token}"})


def upload(client: TestClient, token: str, data: bytes, name: str = "a.txt") -> dict[str, Any]:
    resp = client.post(
        "/v1/files",
        content=data,
        headers={"Authorization": f"Bearer {token}", "X-Filename": name},
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def stored(conn: sqlite3.Connection, msg_id: str = "m1") -> store.Message:
    got = store.find_message(conn, "chatx:room", msg_id)
    assert got is not None
    return got


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


def test_a_thread_is_a_topic_and_its_next_message_joins_it(
    client: TestClient, conn: sqlite3.Connection
) -> None:
    token = register(client)
    assert post(client, token, thread_id="777").status_code == 202
    assert post(client, token, id="m2", thread_id="777").status_code == 202
    assert post(client, token, id="m3", thread_id="$ev/1:matrix.org").status_code == 202
    assert post(client, token, id="m4").status_code == 202
    assert stored(conn).topic == stored(conn, "m2").topic == "thread:777"
    hashed = stored(conn, "m3").topic
    assert hashed.startswith("thread:")
    assert len(hashed) == len("thread:") + 16
    assert stored(conn, "m4").topic == ""
    rows = conn.execute("SELECT topic, thread_id FROM thread_topics ORDER BY topic").fetchall()
    assert sorted(tuple(r) for r in rows) == sorted(
        [("thread:777", "777"), (hashed, "$ev/1:matrix.org")]
    )


@pytest.mark.parametrize("bad", ["", "x" * 256, "a\u202eb", "a\x00b"])
def test_a_bad_thread_id_is_422_and_remembers_nothing(
    client: TestClient, conn: sqlite3.Connection, bad: str
) -> None:
    token = register(client)
    resp = post(client, token, thread_id=bad)
    assert resp.status_code == 422
    assert resp.json()["field"] == "thread_id"
    assert count(conn) == 0
    assert conn.execute("SELECT COUNT(*) FROM thread_topics").fetchone()[0] == 0


def test_a_message_refused_for_another_field_remembers_no_thread(
    client: TestClient, conn: sqlite3.Connection
) -> None:
    token = register(client)
    resp = post(client, token, thread_id="9", timestamp="1999-01-01T00:00:00Z")
    assert resp.status_code == 422
    assert conn.execute("SELECT COUNT(*) FROM thread_topics").fetchone()[0] == 0


def test_a_mention_is_recorded(client: TestClient, conn: sqlite3.Connection) -> None:
    token = register(client)
    assert post(client, token, mentions_bot=True).status_code == 202
    assert post(client, token, id="m2").status_code == 202
    assert stored(conn).mentions_bot is True
    assert stored(conn, "m2").mentions_bot is False


def test_the_bots_own_echo_is_ours_and_never_a_mention(
    client: TestClient, conn: sqlite3.Connection
) -> None:
    token = register(client)
    assert post(client, token, from_bot=True, mentions_bot=True).status_code == 202
    echo = stored(conn)
    assert (echo.is_from_me, echo.mentions_bot, echo.source) == (True, False, "chatx")


def test_edits_and_deletes_keep_their_target(client: TestClient, conn: sqlite3.Connection) -> None:
    token = register(client)
    assert post(client, token, id="m1").status_code == 202
    edit = post(client, token, id="m1:edit:1", verb="edit", target_id="m1", content="hello!")
    assert edit.status_code == 202, edit.text
    gone = {"chat_jid": "chatx:room", "id": "m1:del", "verb": "delete", "target_id": "m1"}
    resp = client.post("/v1/messages", json=gone, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 202, resp.text
    e, d = stored(conn, "m1:edit:1"), stored(conn, "m1:del")
    assert (e.verb, e.target_id, e.content) == ("edit", "m1", "hello!")
    assert (d.verb, d.target_id, d.content) == ("delete", "m1", "(deleted)")
    assert stored(conn).content == "hello"  # the original stays as it was


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"verb": "edit"}, "target_id"),  # an edit of what?
        ({"verb": "delete", "content": "x"}, "target_id"),
        ({"target_id": "m0"}, "target_id"),  # a plain message has no target
        ({"verb": "task", "target_id": "m0"}, "verb"),  # adapters can never post a task
        ({"verb": "ignored"}, "verb"),
        ({"verb": "edit", "target_id": "m\u200b0"}, "target_id"),
        ({"mentions_bot": "yes"}, "mentions_bot"),
        ({"from_bot": 1}, "from_bot"),
    ],
)
def test_bad_protocol_11_fields_are_422(
    client: TestClient, conn: sqlite3.Connection, fields: dict[str, Any], field: str
) -> None:
    token = register(client)
    resp = post(client, token, **fields)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field
    assert count(conn) == 0


def test_only_a_delete_may_leave_out_content(client: TestClient, conn: sqlite3.Connection) -> None:
    token = register(client)
    for verb in ({}, {"verb": "edit", "target_id": "m0"}):
        body = {"chat_jid": "chatx:room", "id": "m1", **verb}
        resp = client.post("/v1/messages", json=body, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 422
        assert resp.json()["field"] == "content"
    assert count(conn) == 0


def test_an_attachment_names_its_uploaded_file(
    client: TestClient, conn: sqlite3.Connection
) -> None:
    token = register(client)
    up = upload(client, token, b"a,b\n1,2\n")
    attachment = {"sha256": up["sha256"], "name": "../../sheet.csv", "type": "Text/CSV", "size": 8}
    resp = post(client, token, attachments=[attachment, {"name": "legacy.gif", "size": 9}])
    assert resp.status_code == 202, resp.text
    assert stored(conn).attachments == [
        {"name": "../../sheet.csv", "type": "text/csv", "size": 8, "file": up["sha256"]},
        {"name": "legacy.gif", "size": 9},
    ]


def test_a_protocol_10_entry_cannot_name_a_stored_file(
    client: TestClient, conn: sqlite3.Connection
) -> None:
    token = register(client)
    up = upload(client, token, b"secret of another chat")
    resp = post(client, token, attachments=[{"name": "x", "file": up["sha256"], "size": 1}])
    assert resp.status_code == 202
    assert stored(conn).attachments == [{"name": "x", "size": 1}]


def test_an_attachment_of_a_file_never_uploaded_is_422(
    client: TestClient, conn: sqlite3.Connection
) -> None:
    token = register(client)
    sha = hashlib.sha256(b"never uploaded").hexdigest()
    resp = post(client, token, attachments=[{"sha256": sha, "name": "a", "type": "", "size": 14}])
    assert resp.status_code == 422
    assert resp.json()["field"] == "attachments"
    assert count(conn) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"size": 999},  # not the uploaded file's size
        {"size": -1},
        {"size": "8"},
        {"name": "evil\x00.txt"},
        {"name": "invoice\u202efdp.exe"},
        {"name": ""},
        {"name": "n" * 256},
        {"type": "not a type"},
        {"sha256": "../../../etc/passwd"},
        {"sha256": "A" * 64},
        {"name": None},
    ],
)
def test_a_bad_attachment_entry_is_422_on_attachments(
    client: TestClient, conn: sqlite3.Connection, change: dict[str, Any]
) -> None:
    token = register(client)
    up = upload(client, token, b"12345678")
    entry = {"sha256": up["sha256"], "name": "a.txt", "type": "text/plain", "size": 8, **change}
    resp = post(client, token, attachments=[entry])
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "attachments"
    assert count(conn) == 0


def test_at_most_twenty_files_per_message(client: TestClient, conn: sqlite3.Connection) -> None:
    token = register(client)
    up = upload(client, token, b"x")
    entry = {"sha256": up["sha256"], "name": "x", "type": "", "size": 1}
    assert post(client, token, id="ok", attachments=[entry] * 20).status_code == 202
    resp = post(client, token, id="many", attachments=[entry] * 21)
    assert resp.status_code == 422
    assert resp.json()["field"] == "attachments"


def test_files_go_in_files_dir_beside_the_db(client: TestClient, db: Path) -> None:
    token = register(client)
    up = upload(client, token, b"where")
    assert (db.parent / "files" / up["sha256"][:2] / up["sha256"]).is_file()


def message(jid: str, content: str, topic: str = "", mentions_bot: bool = False) -> store.Message:
    return store.Message(
        seq=1, id="m", chat_jid=jid, sender="", sender_name="", content=content, timestamp="",
        verb="message", source="", group_folder=None, topic=topic, is_from_me=False,
        reply_to_id=None, attachments=[], mentions_bot=mentions_bot,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("jid", "content", "topic", "expected"),
    [
        ("web:demo", "#research what is new", "", "research"),
        ("cli:demo", "#a.b:c-d_e\tx", "", "a.b:c-d_e"),
        ("web:demo", "#research", "", ""),  # a topic needs a message after it
        ("web:demo", " #research x", "", ""),  # only a leading one
        ("web:demo", "#no/slash x", "", ""),
        ("web:demo", "#" + "t" * 65 + " x", "", ""),  # longer than a topic may be
        ("tg:1", "#research x", "", ""),  # adapters have threads instead
        ("tg:1", "#research x", "thread:7", "thread:7"),
        ("web:demo", "#other x", "kept", "kept"),  # a stored topic wins
    ],
)
def test_session_topic(jid: str, content: str, topic: str, expected: str) -> None:
    assert session_topic(message(jid, content, topic)) == expected


def test_a_mention_or_the_trigger_word_triggers() -> None:
    group = store.Group("tg:1", "f", "", "@sb", True, None, False, "")
    assert is_trigger(message("tg:1", "hi", mentions_bot=True), group)
    assert is_trigger(message("tg:1", "hi @SB"), group)
    assert not is_trigger(message("tg:1", "hi"), group)
    anyone = store.Group("tg:1", "f", "", "", False, None, False, "")
    assert is_trigger(message("tg:1", "hi"), anyone)
