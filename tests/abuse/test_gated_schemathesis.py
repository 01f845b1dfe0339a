"""Schemathesis over the running gated, driven by its own /openapi.json, with the channel secret
for registration and a valid channel token for messages: no 5xx, every answer as documented
(status, content type, body schema, headers), bodies the schema forbids are refused, and a
refused request stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis import checks as st_checks
from schemathesis.specs.openapi import checks as openapi_checks

CHECKS = [
    st_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
]
# Per operation and mode (two POSTs and a GET, positive and negative): well under a minute.
EXAMPLES = 60


def counts(system: Any) -> tuple[int, int, int]:
    row = system.query(
        "SELECT (SELECT COUNT(*) FROM messages WHERE source = 'abuse'),"
        " (SELECT COUNT(*) FROM chats WHERE jid LIKE 'abuse:%'),"
        " (SELECT COUNT(*) FROM channels)"
    )[0]
    return int(row[0]), int(row[1]), int(row[2])


def _mentions_the_abuse_channel(body: object) -> bool:
    """A registration naming `abuse` would replace the token the other examples use."""
    if not isinstance(body, dict):
        return False
    prefixes = body.get("jid_prefixes")
    named = [body.get("name"), *(prefixes if isinstance(prefixes, list) else [])]
    return any(isinstance(n, str) and n.removesuffix(":") == "abuse" for n in named)


# (operation, mode): GET /v1/health takes no input, so it has no negative cases.
CASES = [
    ("POST /v1/messages", GenerationMode.POSITIVE),
    ("POST /v1/messages", GenerationMode.NEGATIVE),
    ("POST /v1/channels/register", GenerationMode.POSITIVE),
    ("POST /v1/channels/register", GenerationMode.NEGATIVE),
    ("GET /v1/health", GenerationMode.POSITIVE),
]
STATUSES: dict[tuple[str, str], set[int]] = {}


# The schema is loaded from the daemon inside the test (schemathesis's lazy pytest loader does
# not work with this pytest), each operation's cases drawn in both generation modes.
@pytest.mark.parametrize(("label", "mode"), CASES)
def test_gated_api_answers_as_documented(
    abuse_system: Any, abuse_channel: Any, label: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{abuse_system.gated_url}/openapi.json")
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        check_case(abuse_system, abuse_channel, case, negative=mode.is_negative)

    run()
    seen = STATUSES.get((label, mode.value), set())
    if label == "POST /v1/messages" and not mode.is_negative:
        assert 202 in seen, seen  # the fuzzer did get messages stored, not only refusals
    assert seen, label


def check_case(system: Any, channel: Any, case: Any, *, negative: bool) -> None:
    path = case.operation.path
    if path == "/v1/channels/register":
        if _mentions_the_abuse_channel(case.body):
            return
        auth = system.env["SWITCHBOARD_CHANNEL_SECRET"]
    else:
        auth = channel.token
        if (
            not negative
            and isinstance(case.body, dict)
            and isinstance(case.body.get("chat_jid"), str)
        ):
            # Post to a chat the channel owns, so accepted messages are exercised too.
            case.body["chat_jid"] = "abuse:" + case.body["chat_jid"].partition(":")[2]
    before = counts(system)
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {auth}"}, checks=CHECKS, timeout=30
    )
    after = counts(system)
    mode = "negative" if negative else "positive"
    STATUSES.setdefault((f"{case.operation.method.upper()} {path}", mode), set()).add(
        response.status_code
    )
    if response.status_code >= 400:
        assert after == before, (path, case.body, response.text)
    if path == "/v1/messages" and response.status_code == 202:
        assert after[0] - before[0] == (0 if response.json()["duplicate"] else 1)
