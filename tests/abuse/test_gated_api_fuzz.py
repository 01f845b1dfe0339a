"""Hypothesis against the running gated, driven by its own /openapi.json: every documented POST
gets bodies built from its schema's properties with arbitrary JSON values (and arbitrary JSON
documents, and broken bytes). Never a 5xx; a rejected message stores nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["abuse:room", "abuse:../../etc", "abuse:\u2024\u2024/x", "", "x" * 300])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=8,
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def post_schemas(base: str) -> dict[str, list[str]]:
    """POST path -> the property names of its documented JSON body."""
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    schemas = spec.get("components", {}).get("schemas", {})
    out = {}
    for path, ops in spec["paths"].items():
        if "post" not in ops:
            continue
        body = ops["post"].get("requestBody", {}).get("content", {}).get("application/json", {})
        schema = body.get("schema", {})
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        out[path] = sorted(schema.get("properties", {}))
    return out


def stored_from(system: Any, source: str) -> int:
    return int(system.query("SELECT COUNT(*) FROM messages WHERE source = ?", source)[0][0])


def test_openapi_documents_both_posts(abuse_system: Any) -> None:
    paths = post_schemas(abuse_system.gated_url)
    assert {"/v1/messages", "/v1/channels/register"} <= set(paths)
    assert {"chat_jid", "id", "content"} <= set(paths["/v1/messages"])


@FUZZ
@given(data=st.data())
def test_fuzzed_posts_never_5xx_and_rejected_messages_store_nothing(
    abuse_system: Any, abuse_channel: Any, data: st.DataObject
) -> None:
    base = abuse_system.gated_url
    paths = post_schemas(base)
    path = data.draw(st.sampled_from(sorted(paths)), label="path")
    fields = paths[path]
    # A POST whose body is not JSON (POST /v1/files: raw bytes) has no properties to draw.
    kinds = ["schema", "document", "bytes"] if fields else ["document", "bytes"]
    kind = data.draw(st.sampled_from(kinds), label="kind")
    if kind == "schema":
        keys = data.draw(st.lists(st.sampled_from(fields), unique=True), label="keys")
        body = json.dumps({k: data.draw(JSON_VALUES, label=k) for k in keys}).encode()
    elif kind == "document":
        body = json.dumps(data.draw(JSON_VALUES, label="doc")).encode()
    else:
        body = data.draw(st.binary(max_size=200), label="bytes")
    if path == "/v1/channels/register":
        # A wrong secret, or the right one with any body (never the `abuse` channel's name,
        # whose token the other examples use).
        secret = data.draw(
            st.sampled_from(["wrong", abuse_system.env["SWITCHBOARD_CHANNEL_SECRET"]])
        )
        if b'"abuse"' in body:
            return
        auth = f"Bearer {secret}"
    else:
        auth = f"Bearer {abuse_channel.token}"
    before = stored_from(abuse_system, "abuse")
    resp = httpx.post(
        f"{base}{path}",
        content=body,
        headers={"Authorization": auth, "Content-Type": "application/json"},
        timeout=30,
    )
    assert resp.status_code < 500, (path, body[:300], resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/json")
    if path == "/v1/messages" and resp.status_code >= 400:
        assert stored_from(abuse_system, "abuse") == before, (body[:300], resp.text)
    if path == "/v1/messages" and resp.status_code == 202:
        assert stored_from(abuse_system, "abuse") <= before + 1


def test_the_row_count_sees_an_accepted_message(abuse_system: Any, abuse_channel: Any) -> None:
    """The 'stores nothing' check above counts rows by source: an accepted message does add one."""
    before = stored_from(abuse_system, "abuse")
    abuse_channel.post("abuse:count", "c1", "counted")
    assert stored_from(abuse_system, "abuse") == before + 1
