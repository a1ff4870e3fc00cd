"""router's Kafka loop: received escalations -> open_case -> commit offset."""

from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.service import open_case
from services.router.settings import RouterSettings
from shared.kafka import ConsumerLoop, Envelope, EventProducer
from shared.outbox import OutboxRelay


def escalation_consumer(
    settings: RouterSettings,
    sessions: async_sessionmaker[AsyncSession],
    relay: OutboxRelay,
    dead_letters: EventProducer,
    registry: CollectorRegistry,
) -> ConsumerLoop:
    async def handle(envelope: Envelope) -> None:
        if await open_case(sessions, settings.topics, envelope) is not None:
            relay.wake()

    def make_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            settings.topics.escalations,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            client_id="flare-router",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    return ConsumerLoop(
        "router",
        make_consumer,
        handle,
        registry,
        dead_letters=dead_letters,
        dlq_topic=settings.topics.dlq,
    )
