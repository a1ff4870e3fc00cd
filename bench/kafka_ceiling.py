"""The pipeline's ceiling: raw aiokafka produce -> consume -> produce -> consume on the same
broker, with Flare's topics' partitioning, its producer settings and its messages' size."""

import asyncio
import time
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.bodies import escalation
from shared.events import EscalationReceived, EventType
from shared.kafka import Envelope

DEADLINE_S = 120.0


def sample_message(run: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of one `flare.escalation.received` event, as intake sends it."""
    event = EscalationReceived.model_validate_json(
        b'{"escalation_id": "%s", "received_at": "%s", "correlation_key": "k", "escalation": %s}'
        % (uuid4().hex.encode(), datetime.now(UTC).isoformat().encode(), escalation(run, 0))
    )
    envelope = Envelope.new(EventType.ESCALATION_RECEIVED, "/bench", event)
    _, value, headers = envelope.to_message("k")
    return value, headers


def producer(bootstrap: str) -> AIOKafkaProducer:
    # As shared.kafka.EventProducer makes it.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=0
    )


def consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def relay(bootstrap: str, source: str, target: str, run: str, count: int) -> None:
    """Stage 2: what the router's loop does, minus the router: consume, produce, commit."""
    reader, writer = consumer(bootstrap, source, f"{run}-relay"), producer(bootstrap)
    await reader.start()
    await writer.start()
    relayed = 0
    try:
        while relayed < count:
            batches = await reader.getmany(timeout_ms=200, max_records=500)
            for partition, records in batches.items():
                sent = [
                    await writer.send(target, r.value, r.key, headers=list(r.headers))
                    for r in records
                ]
                await asyncio.gather(*sent)
                await reader.commit({partition: records[-1].offset + 1})
                relayed += len(records)
    finally:
        await reader.stop()
        await writer.stop()


async def sink(bootstrap: str, topic: str, run: str, count: int) -> float:
    """Stage 3: the far end; returns when the last message arrived (monotonic)."""
    reader = consumer(bootstrap, topic, f"{run}-sink")
    await reader.start()
    seen = 0
    try:
        while seen < count:
            batches = await reader.getmany(timeout_ms=200, max_records=500)
            seen += sum(len(records) for records in batches.values())
    finally:
        await reader.stop()
    return time.monotonic()


async def kafka_round_trip(
    bootstrap: str, source: str, target: str, count: int, run: str
) -> dict[str, Any]:
    value, headers = sample_message(run)
    writer = producer(bootstrap)
    await writer.start()
    async with asyncio.timeout(DEADLINE_S):
        stages = asyncio.gather(
            relay(bootstrap, source, target, run, count), sink(bootstrap, target, run, count)
        )
        started = time.monotonic()
        try:
            sent = [
                await writer.send(source, value, f"{run}-{n}".encode(), headers=headers)
                for n in range(count)
            ]
            await asyncio.gather(*sent)
        finally:
            await writer.stop()
        _, finished = await stages
    return {"count": count, "rate": count / (finished - started), "message_bytes": len(value)}
