"""Traces across the daemons (issue 19): with SWITCHBOARD_OTLP_ENDPOINT set, one inbound message
is one trace — the adapter's span, gated's ingest, its routing, the agent run with its sandbox
start, and the delivery of the reply, parented in that order — exported to a stand-in OTLP
collector; a task timed fires is a trace that starts in timed and goes on in gated; a web chat
message starts in dashd. Tracing off (the default), no span is exported and messages carry no
traceparent."""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from testkit.otlp import OtlpReceiver, ReceivedSpan

# An agent that answers through its send_message tool (a tool call inside the run's trace).
TOOL_AGENT = r"""
import json, sys
from gated.agents.tool_client import ToolClient
request = json.loads(sys.stdin.readline())
client = ToolClient()
client.call("send_message", {"text": "via the tool"})
client.close()
print(json.dumps({"type": "result", "status": "ok"}), flush=True)
"""


@pytest.fixture
def collector() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.close()


def one_trace(spans: list[ReceivedSpan], trace_id: str) -> dict[str, ReceivedSpan]:
    """The spans of one trace by name (each name once)."""
    mine = [s for s in spans if s.trace_id == trace_id]
    by_name = {s.name: s for s in mine}
    assert len(by_name) == len(mine), f"a span name twice in {[s.name for s in mine]}"
    return by_name


def trace_of(
    system: Any, collector: OtlpReceiver, first: str, names: set[str]
) -> tuple[ReceivedSpan, dict[str, ReceivedSpan]]:
    """Wait for a span named `first`, then for `names` in its trace: that span, and its trace's
    spans by name."""
    system.wait_for(lambda: any(s.name == first for s in collector.spans()), 15, f"a {first} span")
    span = next(s for s in collector.spans() if s.name == first)
    system.wait_for(
        lambda: names <= {s.name for s in collector.spans() if s.trace_id == span.trace_id},
        15,
        f"{sorted(names)} in the trace of {first}",
    )
    return span, one_trace(collector.spans(), span.trace_id)


def test_one_inbound_message_is_one_trace_across_processes(
    collector: OtlpReceiver, unstarted_system: Any, csrf: Any
) -> None:
    # (The collector is set up first so that it is torn down last, after the daemons' final
    # export at their stop.)
    system = unstarted_system
    system.env["SWITCHBOARD_OTLP_ENDPOINT"] = collector.url
    system.env["OTEL_BSP_SCHEDULE_DELAY"] = "100"  # export within 0.1 s, not 5 s
    system.start()
    chat = system.adapter("trc")
    system.cli("group", "add", "trc:room", "trroom")

    # The adapter's own span (as an adapter with tracing would send it): gated continues it.
    trace_id, adapter_span = secrets.token_hex(16), secrets.token_hex(8)
    resp = httpx.post(
        f"{system.gated_url}/v1/messages",
        headers={
            "Authorization": f"Bearer {chat.token}",
            "traceparent": f"00-{trace_id}-{adapter_span}-01",
        },
        json={"chat_jid": "trc:room", "id": "t1", "content": "trace me"},
        timeout=10,
    )
    assert resp.status_code == 202, resp.text
    system.wait_for(lambda: chat.texts("trc:room") == ["echo: trace me"], 30, "the echo reply")
    wanted = {
        "gated.ingest",
        "gated.route",
        "gated.agent.run",
        "gated.sandbox.start",
        "gated.deliver",
    }
    system.wait_for(
        lambda: wanted <= {s.name for s in collector.spans() if s.trace_id == trace_id},
        15,
        "the five spans of the message's trace at the collector",
    )
    spans = one_trace(collector.spans(), trace_id)
    ingest, run = spans["gated.ingest"], spans["gated.agent.run"]
    assert ingest.parent_id == adapter_span
    assert ingest.kind == 2
    assert ingest.attributes["channel"] == "trc"
    assert run.parent_id == ingest.span_id
    route = spans["gated.route"]
    assert route.parent_id == ingest.span_id
    assert route.attributes == {"verb": "message", "work": "chat"}
    assert run.attributes["folder"] == "trroom"
    assert run.attributes["result"] == "ok"
    assert spans["gated.sandbox.start"].parent_id == run.span_id
    deliver = spans["gated.deliver"]
    assert deliver.parent_id == run.span_id
    assert deliver.attributes["channel"] == "trc"
    assert {s.service for s in spans.values()} == {"gated"}
    assert not any(s.error for s in spans.values())
    # The trace context is stored with the rows, so the next process can continue it.
    (stored,) = system.query("SELECT traceparent FROM messages WHERE id = 't1'")
    assert stored[0] == f"00-{trace_id}-{ingest.span_id}-01"
    (reply,) = system.query("SELECT traceparent FROM messages WHERE chat_jid = 'trc:room' "
                            "AND is_from_me = 1")  # fmt: skip
    assert reply[0] == f"00-{trace_id}-{run.span_id}-01"

    # A hostile header is only parsed: a new trace starts, the row stores gated's own span.
    junk = [
        "00-zzz",
        "x" * 4000,
        f"00-{trace_id}-{adapter_span}-01-extra",  # version 00 has no fifth field
        f"ff-{trace_id}-{adapter_span}-01",  # version ff is forbidden
        f"00-{'0' * 32}-{adapter_span}-01",  # an all-zero trace id is invalid
    ]
    for n, header in enumerate(junk):
        resp = httpx.post(
            f"{system.gated_url}/v1/messages",
            headers={"Authorization": f"Bearer {chat.token}", "traceparent": header},
            json={"chat_jid": "trc:room", "id": f"bad{n}", "content": "bad header"},
            timeout=10,
        )
        assert resp.status_code == 202, resp.text
        (row,) = system.query("SELECT traceparent FROM messages WHERE id = ?", f"bad{n}")
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", row[0])
        assert trace_id not in row[0]
        assert "0" * 32 not in row[0]

    # A task: timed's firing starts the trace, gated's run and delivery go on with it.
    at = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()  # the CLI may start slowly
    system.cli("task", "add", "--chat", "trc:room", "--at", at, "--prompt", "tick")
    system.wait_for(lambda: "echo: tick" in " ".join(chat.texts("trc:room")), 30, "task reply")
    fire, task_trace = trace_of(
        system, collector, "timed.fire", {"gated.agent.run", "gated.deliver"}
    )
    assert fire.service == "timed"
    assert fire.parent_id == ""
    assert fire.kind == 4  # PRODUCER
    assert task_trace["gated.agent.run"].parent_id == fire.span_id
    assert task_trace["gated.agent.run"].service == "gated"

    # A tool call is a span of the run; the message it stores is delivered in its trace.
    system.cli("group", "add", "trc:tools", "trtools")
    folder = system.root / "groups" / "trtools"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.py").write_text(TOOL_AGENT)
    system.cli("group", "config", "trtools", "--set", f"command={sys.executable} agent.py")
    chat.post("trc:tools", "t2", "use a tool")
    system.wait_for(lambda: chat.texts("trc:tools") == ["via the tool"], 30, "the tool's message")
    everything = {"gated.ingest", "gated.agent.run", "gated.deliver"}
    tool, tool_trace = trace_of(system, collector, "gated.tool", everything)
    assert tool.attributes["tool"] == "send_message"
    assert not tool.error
    assert tool.parent_id == tool_trace["gated.agent.run"].span_id
    assert tool_trace["gated.agent.run"].parent_id == tool_trace["gated.ingest"].span_id
    assert tool_trace["gated.deliver"].parent_id == tool.span_id

    # A web chat message: dashd's ingest starts the trace.
    system.cli("group", "add", "web:trweb", "trweb")
    system.cli("user", "add", "tracer", "--password-stdin", input="tracer-password-1\n")
    with system.dashboard("tracer", "tracer-password-1") as web:
        page = web.get("/web/trweb")
        sent = web.post("/web/trweb", data={"csrf": csrf(page.text), "text": "hi"})
        assert sent.status_code in (200, 303)
    system.wait_for(lambda: system.replies("web:trweb") == ["echo: hi"], 30, "the web reply")
    web_ingest, web_trace = trace_of(system, collector, "dashd.ingest", {"gated.agent.run"})
    assert web_ingest.service == "dashd"
    assert web_trace["gated.agent.run"].parent_id == web_ingest.span_id


def test_tracing_is_off_by_default(fresh_system: Any) -> None:
    system = fresh_system
    chat = system.adapter("notrc")
    system.cli("group", "add", "notrc:room", "notrroom")
    chat.post("notrc:room", "n1", "plain")
    system.wait_for(lambda: chat.texts("notrc:room") == ["echo: plain"], 30, "the echo reply")
    assert system.query("SELECT COUNT(*) FROM messages WHERE traceparent IS NOT NULL")[0][0] == 0
    assert "tracing on" not in system.log("gated")


def test_a_bad_endpoint_is_one_line_and_exit_2(unstarted_system: Any) -> None:
    system = unstarted_system
    system.env["SWITCHBOARD_OTLP_ENDPOINT"] = "grpc://127.0.0.1:4317"
    proc = system.spawn("timed")
    assert proc.wait(timeout=30) == 2
    system.procs.pop("timed")
    assert "SWITCHBOARD_OTLP_ENDPOINT='grpc://127.0.0.1:4317': not an http:// or https://" in (
        system.log("timed")
    )
    assert not system.db.exists()  # refused before the store was opened
