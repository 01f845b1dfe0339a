"""The channel HTTP API: registration with the shared secret, posting messages with a channel
token, and every kind of bad request answered 4xx JSON naming the problem, writing nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import store
from fastapi.testclient import TestClient
from gated.channels import MAX_BODY_BYTES, create_app
from gated_channels_support import SECRET, make_config, register


def count_messages(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


def post(client: TestClient, token: str, body: Any) -> Any:
    return client.post("/v1/messages", json=body, headers={"Authorization": f"Bearer {token}"})


def test_health_is_public_and_reports_version(client: TestClient) -> None:
    resp = client.get("/v1/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"
    assert resp.json()["version"]


def test_openapi_schema_documents_both_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    msg = spec["paths"]["/v1/messages"]["post"]["requestBody"]["content"]["application/json"]
    # content may be left out of a protocol 1.1 delete only (test_inbound_v11 checks the rest).
    assert set(msg["schema"]["required"]) == {"chat_jid", "id"}
    assert "content" in msg["schema"]["properties"]
    reg = spec["paths"]["/v1/channels/register"]["post"]["requestBody"]
    assert "name" in reg["content"]["application/json"]["schema"]["properties"]


def test_register_returns_a_token_stored_only_as_its_hash(client: TestClient, db: Path) -> None:
    token = register(client, "chatx", "http://127.0.0.1:5000/hook", max_message_chars=500)
    with sqlite3.connect(db) as c:
        row = c.execute("SELECT token_hash, url, max_message_chars FROM channels").fetchone()
    assert row == (hashlib.sha256(token.encode()).hexdigest(), "http://127.0.0.1:5000/hook", 500)


def test_register_needs_the_secret(client: TestClient) -> None:
    body = {"name": "chatx", "url": "http://127.0.0.1:1"}
    assert client.post("/v1/channels/register", json=body).status_code == 401
    resp = client.post(
        "/v1/channels/register", json=body, headers={"Authorization": "Bearer wrong"}
    )
    assert resp.status_code == 401
    assert resp.json() == {"error": "wrong channel secret", "field": "Authorization"}


def test_register_without_configured_secret_is_503(db: Path) -> None:
    app = create_app(make_config(db, channel_secret=None))
    with TestClient(app) as client:
        resp = client.post(
            "/v1/channels/register",
            json={"name": "chatx", "url": "http://127.0.0.1:1"},
            headers={"Authorization": f"Bearer {SECRET}"},
        )
    assert resp.status_code == 503
    assert "SWITCHBOARD_CHANNEL_SECRET" in resp.json()["error"]


def test_reregistering_replaces_token_and_url(client: TestClient, db: Path) -> None:
    old = register(client, "chatx", "http://127.0.0.1:1")
    new = register(client, "chatx", "http://127.0.0.1:2")
    assert old != new
    body = {"chat_jid": "chatx:room", "id": "m1", "content": "hi"}
    assert post(client, old, body).status_code == 401
    assert post(client, new, body).status_code == 202
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT name, url FROM channels").fetchall() == [
            ("chatx", "http://127.0.0.1:2")
        ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "web", "url": "http://127.0.0.1:1"}, "name"),
        ({"name": "Bad Name", "url": "http://127.0.0.1:1"}, "name"),
        ({"name": "chatx", "url": "ftp://x"}, "url"),
        ({"name": "chatx", "url": "http://[::1"}, "url"),
        ({"name": "chatx", "url": "http://h", "max_message_chars": 10}, "max_message_chars"),
        ({"name": "chatx", "url": "http://h", "max_message_chars": "4000"}, "max_message_chars"),
        ({"name": "chatx", "url": "http://h", "jid_prefixes": ["cli"]}, "jid_prefixes"),
        ({"url": "http://h"}, "name"),
    ],
)
def test_bad_registration_names_the_field(
    client: TestClient, db: Path, body: dict[str, Any], field: str
) -> None:
    resp = client.post(
        "/v1/channels/register", json=body, headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM channels").fetchone()[0] == 0


def test_a_prefix_owned_by_another_channel_is_a_conflict(client: TestClient) -> None:
    register(client, "alpha", jid_prefixes=["shared"])
    resp = client.post(
        "/v1/channels/register",
        json={"name": "beta", "url": "http://h", "jid_prefixes": ["shared"]},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert resp.status_code == 409
    assert resp.json()["field"] == "jid_prefixes"


def test_posted_message_is_stored_once_with_channel_as_source(
    client: TestClient, conn: sqlite3.Connection
) -> None:
    token = register(client)
    body = {
        "chat_jid": "chatx:room1",
        "id": "m1",
        "content": "hello",
        "sender": "alice",
        "sender_name": "Alice",
        "timestamp": "2026-11-23T09:00:00.000Z",
        "chat_name": "Room one",
        "is_group": True,
        "attachments": [{"name": "a.txt", "size": 3}],
    }
    first = post(client, token, body)
    assert first.status_code == 202
    assert first.json()["duplicate"] is False
    again = post(client, token, body)
    assert again.status_code == 202
    assert again.json() == {"seq": first.json()["seq"], "duplicate": True}
    msgs = store.new_messages(conn, 0)
    assert len(msgs) == 1
    m = msgs[0]
    assert (m.source, m.sender, m.sender_name, m.content) == ("chatx", "alice", "Alice", "hello")
    assert m.attachments == [{"name": "a.txt", "size": 3}]
    chat = store.get_chat(conn, "chatx:room1")
    assert chat is not None
    assert (chat.name, chat.is_group) == ("Room one", True)


def test_extra_jid_prefixes_may_post_but_foreign_ones_may_not(client: TestClient, db: Path) -> None:
    token = register(client, "chatx", jid_prefixes=["chatx-dm"])
    assert (
        post(client, token, {"chat_jid": "chatx-dm:u1", "id": "1", "content": "a"}).status_code
        == 202
    )
    resp = post(client, token, {"chat_jid": "web:demo", "id": "2", "content": "b"})
    assert resp.status_code == 403
    assert resp.json()["field"] == "chat_jid"
    assert count_messages(db) == 1


@pytest.mark.parametrize("auth", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_unknown_or_missing_token_is_401(client: TestClient, db: Path, auth: str | None) -> None:
    register(client)
    headers = {"Authorization": auth} if auth is not None else {}
    resp = client.post(
        "/v1/messages", json={"chat_jid": "chatx:r", "id": "1", "content": "a"}, headers=headers
    )
    assert resp.status_code == 401
    assert resp.json()["field"] == "Authorization"
    assert count_messages(db) == 0


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        (b"{not json", 400, "body"),
        (b"", 400, "body"),
        (b"[1, 2]", 422, "body"),
        (json.dumps({"id": "1", "content": "a"}).encode(), 422, "chat_jid"),
        (json.dumps({"chat_jid": "chatx:r", "content": "a"}).encode(), 422, "id"),
        (json.dumps({"chat_jid": "chatx:r", "id": "1"}).encode(), 422, "content"),
        (json.dumps({"chat_jid": "chatx:r", "id": 1, "content": "a"}).encode(), 422, "id"),
        (json.dumps({"chat_jid": "chatx:r", "id": "1", "content": "  "}).encode(), 422, "content"),
        (json.dumps({"chat_jid": "chatx r", "id": "1", "content": "a"}).encode(), 422, "chat_jid"),
        (
            json.dumps(
                {"chat_jid": "chatx:r", "id": "1", "content": "a", "is_group": "yes"}
            ).encode(),
            422,
            "is_group",
        ),
        (
            json.dumps(
                {"chat_jid": "chatx:r", "id": "1", "content": "a", "timestamp": "noon"}
            ).encode(),
            422,
            "timestamp",
        ),
        (
            json.dumps(
                {
                    "chat_jid": "chatx:r",
                    "id": "1",
                    "content": "a",
                    "timestamp": "0001-01-01T00:00+01:00",
                }
            ).encode(),
            422,
            "timestamp",
        ),
        (b'{"chat_jid": "chatx:r", "id": "1", "content": "\\ud800"}', 400, "body"),
        (
            json.dumps(
                {"chat_jid": "chatx:r", "id": "1", "content": "a", "attachments": [1]}
            ).encode(),
            422,
            "attachments.0",
        ),
        (
            json.dumps({"chat_jid": "chatx:r", "id": "x" * 600, "content": "a"}).encode(),
            422,
            "id",
        ),
    ],
)
def test_bad_message_bodies_are_4xx_naming_the_field(
    client: TestClient, db: Path, raw: bytes, status: int, field: str
) -> None:
    token = register(client)
    resp = client.post(
        "/v1/messages",
        content=raw,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert resp.status_code == status, resp.text
    assert resp.json()["field"] == field
    assert resp.json()["error"]
    assert count_messages(db) == 0


def test_oversized_body_is_413_and_writes_nothing(client: TestClient, db: Path) -> None:
    token = register(client)
    body = {"chat_jid": "chatx:r", "id": "1", "content": "x" * (MAX_BODY_BYTES + 10)}
    resp = post(client, token, body)
    assert resp.status_code == 413
    assert resp.json()["field"] == "body"
    assert count_messages(db) == 0


def test_oversized_chunked_body_without_length_is_413(client: TestClient, db: Path) -> None:
    token = register(client)

    def chunks() -> Any:
        yield b'{"chat_jid": "chatx:r", "id": "1", "content": "'
        for _ in range(40):
            yield b"y" * 8192
        yield b'"}'

    resp = client.post(
        "/v1/messages", content=chunks(), headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 413
    assert count_messages(db) == 0


def test_unknown_path_and_method_answer_json(client: TestClient) -> None:
    resp = client.get("/v1/nothing")
    assert resp.status_code == 404
    assert resp.json()["field"] is None
    assert client.get("/v1/messages").status_code == 405
