"""Trace context: a partner's traceparent follows the report through Kafka to the consumer."""

import asyncio
from collections.abc import Iterator, Sequence

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from shared.events import Reporter, ReporterType
from shared.kafka import ConsumerLoop, Envelope, EventProducer, OutgoingMessage
from shared.tracing import trace_requests, use_exporter
from tests.conftest import FlareEnv

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
BODY = Reporter(type=ReporterType.PRESS, name="desk")


def span_id(traceparent: str | None) -> str:
    assert traceparent is not None
    return traceparent.split("-")[2]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    use_exporter("tests", exporter)
    yield exporter
    use_exporter("tests", None)


async def post_report(env: FlareEnv) -> Envelope:
    """A one-route app that publishes an event for each request, as intake's relay would."""
    app = FastAPI()
    trace_requests(app)
    producer = EventProducer(env.kafka_access, "tracing-test")
    sent: list[Envelope] = []

    @app.post("/report")
    async def report() -> None:
        sent.append(Envelope.new("test.reported", "/tests", BODY))
        await producer.send_all([OutgoingMessage(env.topics.escalations, "k", sent[-1])])

    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (
                await client.post("/report", headers={"traceparent": CALLER})
            ).status_code == 200
    finally:
        await producer.stop()
    return sent[0]


async def consume_events(env: FlareEnv, expected: int = 1, batches: bool = False) -> Envelope:
    """Consume the events and return the event the handler would publish in turn."""
    published: list[Envelope] = []
    done = asyncio.Event()

    async def handle(envelopes: Sequence[Envelope]) -> None:
        published.append(Envelope.new("test.handled", "/tests", BODY))
        if len(envelopes) >= expected:
            done.set()

    def make_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            env.topics.escalations,
            bootstrap_servers=env.kafka,
            group_id="g-trace",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )

    stopping = asyncio.Event()
    loop = ConsumerLoop("tracing", make_consumer, handle, CollectorRegistry(), batches=batches)
    task = asyncio.create_task(loop.run(stopping))
    try:
        async with asyncio.timeout(20):
            await done.wait()
    finally:
        stopping.set()
        await task
    return published[0]


async def test_without_an_exporter_events_carry_the_callers_trace(flare_env: FlareEnv) -> None:
    sent = await post_report(flare_env)
    assert sent.traceparent == CALLER
    assert (await consume_events(flare_env)).traceparent == CALLER


async def test_with_an_exporter_each_hop_is_a_child_span_of_the_one_before(
    flare_env: FlareEnv, spans: InMemorySpanExporter
) -> None:
    sent = await post_report(flare_env)
    handled = await consume_events(flare_env)
    by_name = {finished.name: finished for finished in spans.get_finished_spans()}
    request, consume = by_name["POST /report"], by_name[f"consume {flare_env.topics.escalations}"]
    assert {format(s.context.trace_id, "032x") for s in (request, consume)} == {TRACE_ID}
    assert request.parent is not None
    assert format(request.parent.span_id, "016x") == span_id(CALLER)
    assert span_id(sent.traceparent) == format(request.context.span_id, "016x")
    assert consume.parent is not None
    assert consume.parent.span_id == request.context.span_id
    assert span_id(handled.traceparent) == format(consume.context.span_id, "016x")


async def test_a_batch_span_links_the_trace_of_every_event_it_handles(
    flare_env: FlareEnv, spans: InMemorySpanExporter
) -> None:
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    events = [Envelope.new("test.reported", "/tests", BODY, parent) for parent in (CALLER, other)]
    producer = EventProducer(flare_env.kafka_access, "tracing-test")
    try:
        await producer.send_all(
            [OutgoingMessage(flare_env.topics.escalations, "k", e) for e in events]
        )
    finally:
        await producer.stop()
    await consume_events(flare_env, expected=2, batches=True)
    [batch] = [s for s in spans.get_finished_spans() if s.name == "consume tracing batch"]
    linked = {format(link.context.trace_id, "032x") for link in batch.links}
    assert linked == {TRACE_ID, "0af7651916cd43dd8448eb211c80319c"}
