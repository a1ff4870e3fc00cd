"""Tracing: the W3C trace context of a partner's request follows the report through Kafka.

Without an exporter (the default) nothing is recorded, but the `traceparent` still travels:
events carry the caller's trace id, so logs and deliveries can be joined across services.
With `FLARE_OTEL_EXPORTER=otlp` (or `console`) every HTTP request, consumed event and the
work inside them become OpenTelemetry spans.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import NoOpTracer, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PROPAGATOR = TraceContextTextMapPropagator()


class Exporter(StrEnum):
    NONE = "none"
    CONSOLE = "console"
    OTLP = "otlp"


class _State:
    tracer: Tracer = NoOpTracer()
    provider: TracerProvider | None = None


def configure_tracing(service: str, exporter: Exporter, endpoint: str | None = None) -> None:
    """Called once per process by the entry point (tests may call it again)."""
    if exporter is Exporter.NONE:
        use_exporter(service, None)
    elif exporter is Exporter.CONSOLE:
        use_exporter(service, ConsoleSpanExporter())
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        use_exporter(service, OTLPSpanExporter(endpoint=endpoint), batch=True)


def use_exporter(service: str, exporter: SpanExporter | None, batch: bool = False) -> None:
    if _State.provider is not None:
        _State.provider.shutdown()
        _State.provider = None
    if exporter is None:
        _State.tracer = NoOpTracer()
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"flare-{service}"}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    )
    _State.provider, _State.tracer = provider, provider.get_tracer("flare")


@contextmanager
def span(
    name: str,
    traceparent: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    links: Sequence[str | None] = (),
) -> Iterator[trace.Span]:
    """A span continuing `traceparent` (from an HTTP header or a Kafka event) when given.

    `links` are the traceparents of the other traces the span works for: a batch of consumed
    events has one parent at most but belongs to every event's trace.
    """
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    linked = [trace.Link(_span_context(link)) for link in links if link]
    with _State.tracer.start_as_current_span(
        name, context=parent, kind=kind, links=linked
    ) as current:
        yield current


def _span_context(traceparent: str) -> trace.SpanContext:
    extracted = _PROPAGATOR.extract({"traceparent": traceparent})
    return trace.get_current_span(extracted).get_span_context()


def current_traceparent() -> str | None:
    """The traceparent of the current span (or of the trace it continues), if any."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def trace_requests(app: FastAPI) -> None:
    """A server span per request, continuing the caller's `traceparent` header."""

    app.add_middleware(TraceRequests)


class TraceRequests:
    """A server span around each HTTP request: plain ASGI, like shared.metrics.ObserveResponses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = Headers(scope=scope).get("traceparent")
        with span(f"{scope['method']} {scope['path']}", traceparent, SpanKind.SERVER) as current:

            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start":
                    current.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, sending)
