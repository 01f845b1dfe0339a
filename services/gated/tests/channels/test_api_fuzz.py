"""Fuzzing the channel API with Hypothesis: whatever arrives, the answer is never a 5xx, a
rejected request writes no row, and an accepted one writes at most one."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from gated_channels_support import SECRET, register
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELDS = [
    "chat_jid",
    "id",
    "content",
    "sender",
    "sender_name",
    "timestamp",
    "reply_to_id",
    "chat_name",
    "is_group",
    "attachments",
    "thread_id",
    "mentions_bot",
    "from_bot",
    "verb",
    "target_id",
]
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)
GOOD_VALUES: dict[str, Any] = {
    "chat_jid": st.sampled_from(
        ["chatx:room", "chatx:r2", "web:demo", "chatx:", "x:y", "chatx:a b"]
    ),
    "id": st.text(max_size=12),
    "content": st.text(max_size=40),
    "timestamp": st.sampled_from(["2026-11-23T09:00:00Z", "yesterday", "2026-13-01T00:00:00Z"]),
    "is_group": st.booleans(),
    "mentions_bot": st.booleans(),
    "from_bot": st.booleans(),
    "verb": st.sampled_from(["message", "edit", "delete", "task"]),
    "thread_id": st.text(max_size=12),
    "attachments": st.lists(
        st.dictionaries(st.text(max_size=5), JSON_SCALARS, max_size=3)
        | st.fixed_dictionaries(
            {"sha256": st.sampled_from(["0" * 64, "zz"]) | JSON_SCALARS},
            optional={"name": JSON_SCALARS, "type": JSON_SCALARS, "size": JSON_SCALARS},
        ),
        max_size=3,
    ),
}
MESSAGE_BODIES = st.fixed_dictionaries(
    {},
    optional={f: GOOD_VALUES.get(f, st.text(max_size=20)) | JSON_VALUES for f in FIELDS},
)
RAW_BODIES = (
    MESSAGE_BODIES.map(lambda d: json.dumps(d).encode())
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
)


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=RAW_BODIES, auth=st.sampled_from(["good", "none", "bad"]))
def test_fuzzed_messages_never_5xx_and_rejections_write_nothing(
    client: TestClient, db: Path, raw: bytes, auth: str
) -> None:
    token = register(client, "chatx")
    headers = {"Content-Type": "application/json"}
    if auth == "good":
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "bad":
        headers["Authorization"] = "Bearer not-a-token"
    before = count(db, "messages")
    threads_before = count(db, "thread_topics")
    resp = client.post("/v1/messages", content=raw, headers=headers)
    after = count(db, "messages")
    assert resp.status_code < 500, (raw, resp.text)
    body = resp.json()
    if resp.status_code == 202:
        assert after - before in (0, 1)
        assert after - before == (0 if body["duplicate"] else 1)
    else:
        assert 400 <= resp.status_code < 500
        assert set(body) == {"error", "field"}
        assert after == before
        assert count(db, "thread_topics") == threads_before


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["chatx", "web", "a-b", "Bad", ""]) | JSON_VALUES,
            "url": st.sampled_from(["http://127.0.0.1:1", "ftp://x", "http://[::1", ""])
            | JSON_VALUES,
            "jid_prefixes": st.lists(st.text(max_size=6), max_size=3) | JSON_VALUES,
            "max_message_chars": st.integers(min_value=-10, max_value=10**6) | JSON_VALUES,
        },
    )
)
def test_fuzzed_registrations_never_5xx(client: TestClient, db: Path, body: dict[str, Any]) -> None:
    before = count(db, "channels")
    resp = client.post(
        "/v1/channels/register",
        content=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert resp.status_code < 500, (body, resp.text)
    if resp.status_code != 200:
        assert count(db, "channels") == before
        assert set(resp.json()) == {"error", "field"}
