"""Registration with adapter protocol 1.1: the send secret and capabilities are stored and
answered, `max_text` becomes the limit, a bad value is a 422 naming it (and writes nothing),
and a 1.0 registration is answered as before."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gated_channels_support import SECRET

SEND_SECRET = secrets.token_urlsafe(32)
CAPS: dict[str, Any] = {
    "max_text": 4096,
    "files_in": True,
    "files_out": True,
    "max_file_bytes": 20971520,
    "threads": True,
    "typing": True,
    "edits": True,
    "format": "telegram_markdown_v2",
}


def post(client: TestClient, **body: Any) -> Any:
    base = {"name": "tg", "url": "http://127.0.0.1:8711"}
    return client.post(
        "/v1/channels/register",
        json={**base, **body},
        headers={"Authorization": f"Bearer {SECRET}"},
    )


def stored(db: Path) -> tuple[Any, ...] | None:
    with sqlite3.connect(db) as c:
        row = c.execute(
            "SELECT protocol, send_secret, capabilities, max_message_chars FROM channels"
        ).fetchone()
    return tuple(row) if row else None


def test_a_v11_registration_is_stored_and_answered(client: TestClient, db: Path) -> None:
    resp = post(client, protocol="1.1", send_secret=SEND_SECRET, capabilities=CAPS)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["protocol"] == "1.1"
    assert body["capabilities"] == CAPS
    assert body["max_message_chars"] == 4096  # max_text replaces the 4000 default
    assert "send_secret" not in body
    protocol, secret, caps, limit = stored(db) or ()
    assert (protocol, secret, limit) == ("1.1", SEND_SECRET, 4096)
    assert '"telegram_markdown_v2"' in caps


def test_a_v11_adapter_without_capabilities_gets_plain_text_at_its_limit(
    client: TestClient,
) -> None:
    resp = post(client, protocol="1.1", send_secret=SEND_SECRET, max_message_chars=700)
    assert resp.status_code == 200, resp.text
    caps = resp.json()["capabilities"]
    assert (caps["format"], caps["max_text"], caps["typing"]) == ("plain", 700, False)


def test_unknown_capabilities_of_a_later_protocol_are_ignored(client: TestClient) -> None:
    resp = post(client, protocol="1.1", send_secret=SEND_SECRET, capabilities={"reactions": True})
    assert resp.status_code == 200, resp.text
    assert "reactions" not in resp.json()["capabilities"]


def test_registering_again_replaces_the_secret_and_a_v10_one_clears_it(
    client: TestClient, db: Path
) -> None:
    post(client, protocol="1.1", send_secret=SEND_SECRET, capabilities=CAPS)
    other = secrets.token_urlsafe(32)
    post(client, protocol="1.1", send_secret=other, capabilities={"format": "matrix_html"})
    protocol, secret, caps, limit = stored(db) or ()
    assert (protocol, secret, limit) == ("1.1", other, 4000)
    assert '"matrix_html"' in caps
    resp = post(client)
    assert resp.json()["protocol"] == "1.0"
    assert stored(db) == ("1.0", None, "{}", 4000)


def test_a_v10_registration_is_answered_as_before_plus_its_protocol(client: TestClient) -> None:
    resp = post(client, max_message_chars=300)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"name", "token", "jid_prefixes", "max_message_chars", "protocol"}
    assert (body["protocol"], body["max_message_chars"]) == ("1.0", 300)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"protocol": "1.1"}, "send_secret"),
        ({"protocol": "1.1", "send_secret": "x" * 31}, "send_secret"),
        ({"protocol": "1.1", "send_secret": "x" * 257}, "send_secret"),
        ({"protocol": "1.1", "send_secret": "a/b+c=" * 8}, "send_secret"),
        ({"protocol": "1.1", "send_secret": "x" * 40 + "\n"}, "send_secret"),
        ({"protocol": "1.1", "send_secret": 12345678901234567890123456789012345}, "send_secret"),
        ({"protocol": "1.0", "send_secret": SEND_SECRET}, "send_secret"),
        ({"capabilities": {"typing": True}}, "capabilities"),
        ({"protocol": "2.0", "send_secret": SEND_SECRET}, "protocol"),
        ({"protocol": 1.1, "send_secret": SEND_SECRET}, "protocol"),
        ({"capabilities": {"max_text": 49}}, "capabilities.max_text"),
        ({"capabilities": {"max_text": 100_001}}, "capabilities.max_text"),
        ({"capabilities": {"max_text": "4096"}}, "capabilities.max_text"),
        ({"capabilities": {"max_file_bytes": 0}}, "capabilities.max_file_bytes"),
        ({"capabilities": {"max_file_bytes": 100 * 2**20 + 1}}, "capabilities.max_file_bytes"),
        ({"capabilities": {"format": "html"}}, "capabilities.format"),
        ({"capabilities": {"typing": "yes"}}, "capabilities.typing"),
        ({"capabilities": ["typing"]}, "capabilities"),
    ],
)
def test_a_bad_v11_field_is_a_422_naming_it_and_writes_nothing(
    client: TestClient, db: Path, body: dict[str, Any], field: str
) -> None:
    if "capabilities" in body and "protocol" not in body and field != "capabilities":
        body = {"protocol": "1.1", "send_secret": SEND_SECRET, **body}
    resp = post(client, **body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field
    assert stored(db) is None


def test_openapi_writes_the_capabilities_in_place(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/channels/register"]["post"]["requestBody"]
    props = body["content"]["application/json"]["schema"]["properties"]
    assert "$ref" not in str(props)
    caps = props["capabilities"]["anyOf"][0]
    assert caps["properties"]["max_text"]["anyOf"][0]["minimum"] == 50
    assert set(caps["properties"]["format"]["enum"]) >= {"telegram_markdown_v2", "matrix_html"}
    assert props["send_secret"]["anyOf"][0]["minLength"] == 32
