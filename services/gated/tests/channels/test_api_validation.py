"""Input the channel API must refuse or normalise (issue 13: found by fuzzing from outside):
names and prefixes with trailing newlines or colons, hostile adapter URLs, unchecked chat names,
timestamps in odd formats, invisible characters, NaN; plus a truthful /openapi.json."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import store
from fastapi.testclient import TestClient
from gated_channels_support import SECRET, register


def reg(client: TestClient, **body: Any) -> Any:
    return client.post(
        "/v1/channels/register",
        json={"name": "chatx", "url": "http://127.0.0.1:9", **body},
        headers={"Authorization": f"Bearer {SECRET}"},
    )


def post(client: TestClient, token: str, **fields: Any) -> Any:
    body = {"chat_jid": "chatx:room", "id": "m1", "content": "hello", **fields}
    return client.post("/v1/messages", json=body, headers={"Authorization": f"Bearer {token}"})


def rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_a_prefix_given_with_its_colon_is_stored_without_it(client: TestClient) -> None:
    resp = reg(client, jid_prefixes=["tg:", "tg-dm"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["jid_prefixes"] == ["tg", "tg-dm"]
    token = resp.json()["token"]
    assert post(client, token, chat_jid="tg:12345").status_code == 202


def test_a_name_given_with_a_colon_says_to_drop_it(client: TestClient) -> None:
    resp = reg(client, name="tg:")
    assert resp.status_code == 422
    assert resp.json()["field"] == "name"
    assert "without ':'" in resp.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "web\n"},
        {"name": "chatx\n"},
        {"name": "cli\n"},
        {"jid_prefixes": ["tg\n"]},
        {"jid_prefixes": ["web\n"]},
        {"jid_prefixes": ["web:"]},
        {"jid_prefixes": ["tg::"]},
    ],
)
def test_names_and_prefixes_with_a_trailing_newline_or_reserved_are_refused(
    client: TestClient, db: Path, body: dict[str, Any]
) -> None:
    resp = reg(client, **body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] in ("name", "jid_prefixes")
    assert rows(db, "channels") == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/\r\nX-Injected: 1",
        "http://127.0.0.1:9/\n",
        "http://127.0.0.1:9/a b",
        "http://127.0.0.1:9/\x00",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:0",
        "http://127.0.0.1:-1",
        "http://user:secret@127.0.0.1:9",
        "http://user@127.0.0.1:9",
        "http://:9",
        "HTTP://127.0.0.1:9",
        "http://\u0430dapter.example",
        "http://127.0.0.1:9/" + "a" * 2000,
    ],
)
def test_hostile_adapter_urls_are_refused(client: TestClient, db: Path, url: str) -> None:
    resp = reg(client, url=url)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "url"
    assert rows(db, "channels") == 0


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8801", "https://adapter.example/base/", "http://[::1]:65535/x?y=1"]
)
def test_ordinary_adapter_urls_are_accepted(client: TestClient, url: str) -> None:
    assert reg(client, url=url).status_code == 200


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"chat_name": "x" * 200_000}, "chat_name"),
        ({"chat_name": "room\x1b]0;pwned\x07"}, "chat_name"),
        ({"chat_name": "room\u202e"}, "chat_name"),
        ({"chat_jid": "chatx:room\x85"}, "chat_jid"),
        ({"chat_jid": "chatx:ro\u200bom"}, "chat_jid"),
        ({"chat_jid": "chatx:room\u202e"}, "chat_jid"),
        ({"id": "m1\x9b"}, "id"),
        ({"id": "m\ufeff1"}, "id"),
        ({"sender": "ann\u2066"}, "sender"),
        ({"sender": "ann\u200d"}, "sender"),
        ({"sender_name": "Ann\x9b2J"}, "sender_name"),
        ({"reply_to_id": "m0\u2028"}, "reply_to_id"),
        ({"timestamp": "9999-12-31T23:59:59Z"}, "timestamp"),
        ({"timestamp": "0001-01-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "2026-11-23T09:00:00"}, "timestamp"),
    ],
)
def test_hostile_message_fields_are_refused_and_store_nothing(
    client: TestClient, db: Path, fields: dict[str, Any], field: str
) -> None:
    token = register(client)
    resp = post(client, token, **fields)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field
    assert rows(db, "messages") == 0
    assert rows(db, "chats") == 0


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("20261123T090000Z", "2026-11-23T09:00:00.000Z"),
        ("2026-W01-1T00:00Z", "2025-12-29T00:00:00.000Z"),
        ("2026-11-23T10:00:00.5+01:00", "2026-11-23T09:00:00.500Z"),
    ],
)
def test_timestamps_are_stored_in_the_one_utc_format(
    client: TestClient, conn: sqlite3.Connection, sent: str, stored: str
) -> None:
    token = register(client)
    assert post(client, token, timestamp=sent).status_code == 202
    assert [m.timestamp for m in store.new_messages(conn, 0)] == [stored]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_nan_or_infinity_in_attachments_is_refused(
    client: TestClient, db: Path, number: str
) -> None:
    token = register(client)
    raw = (
        '{"chat_jid": "chatx:r", "id": "1", "content": "a", "attachments": [{"size": '
        + number
        + "}]}"
    )
    resp = client.post(
        "/v1/messages",
        content=raw.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert resp.status_code in (400, 422), resp.text
    assert rows(db, "messages") == 0


def test_a_405_keeps_its_allow_header(client: TestClient) -> None:
    resp = client.get("/v1/messages")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"
    assert resp.json()["field"] is None


def _body_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return dict(content["schema"]["properties"])


def test_openapi_tells_the_limits_patterns_and_the_bearer_scheme(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    for path in ("/v1/messages", "/v1/channels/register"):
        assert spec["paths"][path]["post"]["security"] == [{name: []} for name in schemes]
    msg = _body_schema(spec, "/v1/messages")
    assert msg["id"]["maxLength"] == 512
    assert msg["content"]["maxLength"] == 200_000
    assert msg["chat_name"]["anyOf"][0]["maxLength"] == 512
    jid = re.compile(msg["chat_jid"]["pattern"])
    assert jid.search("chatx:room")
    for bad in ("chatx:a b", "chatx:room\u202e", "chatx:\u200b", "Chatx:room"):
        assert not jid.search(bad), bad
    reg_body = _body_schema(spec, "/v1/channels/register")
    name = re.compile(reg_body["name"]["pattern"])
    assert name.search("slack")
    assert not name.search("Slack")
    assert reg_body["name"]["not"] == {"enum": ["cli", "email", "web"]}
    assert re.compile(reg_body["jid_prefixes"]["items"]["pattern"]).search("tg:")
    assert reg_body["url"]["maxLength"] == 2000
    assert reg_body["max_message_chars"]["minimum"] == 50
    assert reg_body["max_message_chars"]["maximum"] == 100_000
