"""router's Kafka loop: received escalations -> handle_escalation -> commit offset."""

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.policy_store import PolicyStore
from services.router.service import handle_escalation, handle_source_resolution
from services.router.settings import RouterSettings
from shared.events import EventType
from shared.kafka import ConsumerLoop, Envelope, EventProducer, group_consumer
from shared.outbox import OutboxRelay


def escalation_consumer(
    settings: RouterSettings,
    sessions: async_sessionmaker[AsyncSession],
    policies: PolicyStore,
    relay: OutboxRelay,
    dead_letters: EventProducer,
    registry: CollectorRegistry,
) -> ConsumerLoop:
    async def handle(envelope: Envelope) -> None:
        if envelope.event_type == EventType.ESCALATION_RESOLVED:
            if await handle_source_resolution(sessions, settings.topics, envelope):
                relay.wake()
            return
        # The policy in force when the event is handled; a reload applies from the next one.
        case_id = await handle_escalation(sessions, settings.topics, policies.current, envelope)
        if case_id is not None:
            relay.wake()

    make_consumer = group_consumer(
        settings.kafka_bootstrap_servers,
        settings.topics.escalations,
        settings.consumer_group,
        "flare-router",
    )
    return ConsumerLoop(
        "router",
        make_consumer,
        handle,
        registry,
        dead_letters=dead_letters,
        dlq_topic=settings.topics.dlq,
    )
