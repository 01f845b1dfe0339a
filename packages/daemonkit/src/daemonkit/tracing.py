"""OpenTelemetry traces of every daemon, off unless `SWITCHBOARD_OTLP_ENDPOINT` is set: one trace
per inbound message, continued from process to process through the W3C `traceparent` stored
with each message row (docs/observability.md). Off, every call here is a no-op that imports
nothing of OpenTelemetry; on, spans go to the OTLP/HTTP endpoint in batches."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

ENDPOINT_ENV: Final = "SWITCHBOARD_OTLP_ENDPOINT"
TRACES_PATH: Final = "/v1/traces"  # the OTLP/HTTP path under the endpoint, as OTel's own env
Kind = Literal["internal", "server", "client", "producer", "consumer"]
Attributes = Mapping[str, str | int | float | bool]
# A W3C traceparent of version 00, as this module writes them: trace id, span id, flags.
VERSION_00: Final = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")

_lock = threading.Lock()
_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def endpoint_of(environ: Mapping[str, str] = os.environ) -> str | None:
    """`SWITCHBOARD_OTLP_ENDPOINT` (an `http(s)://host:port` base, as
    OTEL_EXPORTER_OTLP_ENDPOINT), None when unset; ValueError naming it when it is not one."""
    endpoint = environ.get(ENDPOINT_ENV, "").strip()
    if not endpoint:
        return None
    if not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"{ENDPOINT_ENV}={endpoint!r}: not an http:// or https:// URL")
    return endpoint


def setup(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on for this process when `SWITCHBOARD_OTLP_ENDPOINT` is set: spans of
    `service` are exported to `<endpoint>/v1/traces`. Returns whether tracing is on."""
    global _provider, _tracer
    endpoint = endpoint_of(environ)
    if endpoint is None:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    with _lock:
        if _provider is not None:
            return True
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        url = endpoint.rstrip("/") + TRACES_PATH
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        _provider, _tracer = provider, provider.get_tracer("switchboard")
    log.info("tracing on service=%s endpoint=%s", service, url)
    return True


def shutdown() -> None:
    """Export the spans not sent yet and turn tracing off (a daemon's last step)."""
    global _provider, _tracer
    with _lock:
        provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _tracer is not None


def start(
    name: str,
    parent: str | None = None,
    *,
    kind: Kind = "internal",
    attributes: Attributes | None = None,
    links: tuple[str | None, ...] = (),
) -> Span | None:
    """A started span, child of the span `parent` names (a W3C traceparent; None or invalid: a
    new trace), linked to the spans `links` name; None when tracing is off. End it with
    `end()`: it may end on another thread."""
    tracer = _tracer
    if tracer is None:
        return None
    from opentelemetry.trace import Link, SpanKind, get_current_span

    span_kind = SpanKind[kind.upper()]
    span_links = [
        Link(get_current_span(_context(tp)).get_span_context()) for tp in links if tp is not None
    ]
    return tracer.start_span(
        name, context=_context(parent), kind=span_kind, attributes=attributes, links=span_links
    )


def end(span: Span | None, error: str | None = None, attributes: Attributes | None = None) -> None:
    """End `span` (None: nothing), marked failed with `error` when given."""
    if span is None:
        return
    if attributes:
        span.set_attributes(attributes)
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, error[:200]))
    span.end()


@contextmanager
def span(
    name: str,
    parent: str | None = None,
    *,
    kind: Kind = "internal",
    attributes: Attributes | None = None,
) -> Iterator[Span | None]:
    """`start()` ... `end()` around a block; an exception out of it marks the span failed."""
    s = start(name, parent, kind=kind, attributes=attributes)
    try:
        yield s
    except BaseException as exc:
        end(s, error=f"{type(exc).__name__}: {exc}")
        raise
    end(s)


def traceparent(span: Span | None) -> str | None:
    """The W3C traceparent naming `span` (stored with a message so the next process continues
    the trace); None for None or a span that records nothing."""
    if span is None:
        return None
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _context(tp: str | None) -> Context | None:
    """The OTel context of a traceparent (None: none, or not a valid one: a new root). The
    version-00 form every daemon stores is read here directly (a third of a span's cost went to
    the general W3C parser); anything else goes to OpenTelemetry's own propagator."""
    if not tp:
        return None
    from opentelemetry.trace import (
        NonRecordingSpan,
        SpanContext,
        TraceFlags,
        set_span_in_context,
    )

    match = VERSION_00.fullmatch(tp)
    if match is None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        return TraceContextTextMapPropagator().extract({"traceparent": tp})
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not span_id:
        return None
    parent = SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(match[3], 16))
    )
    return set_span_in_context(NonRecordingSpan(parent))
