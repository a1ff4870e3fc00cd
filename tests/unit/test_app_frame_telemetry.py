"""FastAPI's own OpenTelemetry stays off in every service: TraceRequests is the one request span."""

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.intake.models import MIGRATIONS, metadata
from shared.app import Plumbing
from shared.settings import FlareSettings


@pytest.fixture
def global_spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """A global tracer provider, as an operator's OpenTelemetry setup would install one."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield exporter
    provider.shutdown()


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


def with_ping(app: FastAPI) -> FastAPI:
    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


async def test_a_plain_fastapi_app_would_trace_each_request(
    global_spans: InMemorySpanExporter,
) -> None:
    """The control: what FastAPI does with a global provider when nobody turns it off."""
    assert (await get(with_ping(FastAPI()), "/ping")).status_code == 200
    assert global_spans.get_finished_spans()


async def test_a_services_app_leaves_request_spans_to_flare(
    global_spans: InMemorySpanExporter,
) -> None:
    plumbing = Plumbing(FlareSettings(port=1), metadata, MIGRATIONS)
    try:
        app = plumbing.app(title="test", description="test", jobs={}, required=set())
        assert (await get(with_ping(app), "/ping")).status_code == 200
        assert global_spans.get_finished_spans() == ()
    finally:
        await plumbing.engine.dispose()
