"""daemonkit.tracing on its own: off it does nothing (no OpenTelemetry import needed by a
caller); on it exports spans to an OTLP/HTTP endpoint (a stand-in collector decoding the real
protobuf), children and links named by traceparents, errors marked; a bad endpoint refused."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest
from daemonkit import tracing
from testkit.otlp import OtlpReceiver
from testkit.polling import wait_for

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def collector() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    tracing.shutdown()
    receiver.close()


def test_off_every_call_is_a_no_op() -> None:
    assert tracing.setup("x", {}) is False
    assert not tracing.enabled()
    assert tracing.start("a", PARENT) is None
    with tracing.span("b", PARENT) as s:
        assert s is None
    assert tracing.traceparent(None) is None
    tracing.end(None, "error")  # nothing to end


def test_off_imports_no_opentelemetry_sdk() -> None:
    # A new interpreter: daemonkit.tracing used with tracing off loads no SDK or exporter.
    import subprocess

    code = (
        "import sys; from daemonkit import tracing; tracing.setup('x', {}); "
        "tracing.start('a'); print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_bad_endpoint_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http:// or https:// URL"):
        tracing.setup("x", {tracing.ENDPOINT_ENV: "127.0.0.1:4318"})
    assert not tracing.enabled()


def test_spans_are_exported_with_their_parents_links_and_errors(collector: OtlpReceiver) -> None:
    assert tracing.setup("svc", {tracing.ENDPOINT_ENV: collector.url + "/"})
    assert tracing.setup("svc", {tracing.ENDPOINT_ENV: collector.url})  # twice: one provider
    root = tracing.start("root", PARENT, kind="server", attributes={"channel": "web"})
    tp = tracing.traceparent(root)
    assert tp is not None
    assert re.fullmatch(r"00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01", tp)
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with pytest.raises(RuntimeError), tracing.span("child", tp):
        raise RuntimeError("boom")
    linked = tracing.start("linked", tp, links=(other, None))
    tracing.end(linked, attributes={"result": "ok"})
    tracing.end(root)
    tracing.shutdown()  # flushes
    wait_for(lambda: len(collector.spans()) == 3, 10, "three spans")
    spans = {s.name: s for s in collector.spans()}
    assert {s.service for s in spans.values()} == {"svc"}
    assert spans["root"].parent_id == "00f067aa0ba902b7"
    assert spans["root"].kind == 2
    assert spans["root"].attributes == {"channel": "web"}
    assert spans["child"].parent_id == spans["root"].span_id
    assert spans["child"].error
    assert spans["linked"].links == ("b7ad6b7169203331",)
    assert spans["linked"].attributes == {"result": "ok"}
    assert not spans["linked"].error
    assert {s.trace_id for s in spans.values()} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
