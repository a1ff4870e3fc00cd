"""The outbox relay measures what is waiting: rows and the age of the oldest."""

from prometheus_client import CollectorRegistry

from services.intake.models import outbox
from shared.db import make_engine, make_sessions
from shared.events import Reporter, ReporterType
from shared.kafka import Envelope, EventProducer, OutgoingMessage
from shared.outbox import OutboxRelay, add_to_outbox
from tests.conftest import FlareEnv


async def test_backlog_and_oldest_age_are_measured_then_drop_to_zero(flare_env: FlareEnv) -> None:
    engine = make_engine(flare_env.database_url)
    sessions = make_sessions(engine)
    registry = CollectorRegistry()
    producer = EventProducer(flare_env.kafka_access, "backlog-test")
    relay = OutboxRelay(sessions, outbox, producer, registry)
    try:
        async with sessions.begin() as session:
            for number in range(3):
                body = Reporter(type=ReporterType.NGO, name=f"reporter {number}")
                envelope = Envelope.new("test.event", "/tests", body)
                add_to_outbox(
                    session, outbox, OutgoingMessage(flare_env.topics.escalations, "k", envelope)
                )
        await relay.measure_backlog()
        assert registry.get_sample_value("flare_outbox_backlog") == 3
        oldest = registry.get_sample_value("flare_outbox_oldest_seconds")
        assert oldest is not None
        assert oldest > 0
        assert await relay.publish_batch() == 3
        await relay.measure_backlog()
        assert registry.get_sample_value("flare_outbox_backlog") == 0
        assert registry.get_sample_value("flare_outbox_oldest_seconds") == 0
    finally:
        await producer.stop()
        await engine.dispose()
