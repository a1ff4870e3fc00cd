"""The outbox relay takes rows only on its turn, publishes them in id order, and keeps them
when publishing fails."""

import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.models import outbox
from shared.db import make_engine, make_sessions
from shared.events import Reporter, ReporterType
from shared.kafka import Envelope, EventProducer, KafkaAccess, OutgoingMessage
from shared.outbox import OutboxRelay, add_to_outbox
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.kafka_reader import read_topic


@asynccontextmanager
async def relay_on(env: FlareEnv, kafka: KafkaAccess) -> AsyncIterator[OutboxRelay]:
    engine = make_engine(env.database_url)
    producer = EventProducer(kafka, "relay-test")
    try:
        yield OutboxRelay(make_sessions(engine), outbox, producer, CollectorRegistry())
    finally:
        await producer.stop()
        await engine.dispose()


async def add_events(env: FlareEnv, count: int) -> list[str]:
    engine = make_engine(env.database_url)
    sessions: async_sessionmaker[AsyncSession] = make_sessions(engine)
    names = [f"reporter {number}" for number in range(count)]
    try:
        async with sessions.begin() as session:
            for name in names:
                envelope = Envelope.new(
                    "test.event", "/tests", Reporter(type=ReporterType.NGO, name=name)
                )
                add_to_outbox(
                    session, outbox, OutgoingMessage(env.topics.escalations, "one key", envelope)
                )
    finally:
        await engine.dispose()
    return names


async def test_rows_wait_for_the_relays_turn_then_leave_in_id_order(flare_env: FlareEnv) -> None:
    names = await add_events(flare_env, 3)
    other_relay = await asyncpg.connect(flare_env.dsn)
    try:
        async with relay_on(flare_env, flare_env.kafka_access) as relay:
            async with other_relay.transaction():  # another replica, publishing right now
                lock_id = zlib.crc32(f"flare.outbox:{outbox.fullname}".encode())
                await other_relay.execute("SELECT pg_advisory_xact_lock($1)", lock_id)
                assert await relay.publish_batch() == 0
                assert len(await fetch(flare_env, "SELECT 1 FROM intake.outbox")) == 3
            assert await relay.publish_batch() == 3
    finally:
        await other_relay.close()
    assert await fetch(flare_env, "SELECT 1 FROM intake.outbox") == []
    records = await read_topic(flare_env.kafka, flare_env.topics.escalations, 3)
    sent = [Envelope.from_record(record).data["name"] for record in records]
    assert sent == names


async def test_a_failed_publish_keeps_every_row(flare_env: FlareEnv) -> None:
    await add_events(flare_env, 2)
    async with relay_on(flare_env, KafkaAccess("127.0.0.1:1")) as relay:  # nothing listens there
        with pytest.raises(KafkaError):
            await relay.publish_batch()
    assert len(await fetch(flare_env, "SELECT 1 FROM intake.outbox")) == 2
