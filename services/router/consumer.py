"""router's Kafka loop: received escalations -> handle_events (a poll at a time) -> commit."""

from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.policy_store import PolicyStore
from services.router.service import handle_events
from services.router.settings import RouterSettings
from services.router.teams import Rotations
from shared.kafka import ConsumerLoop, Envelope, EventProducer, group_consumer
from shared.outbox import OutboxRelay


def escalation_consumer(
    settings: RouterSettings,
    sessions: async_sessionmaker[AsyncSession],
    policies: PolicyStore,
    rotations: Rotations,
    relay: OutboxRelay,
    dead_letters: EventProducer,
    registry: CollectorRegistry,
) -> ConsumerLoop:
    async def handle(envelopes: Sequence[Envelope]) -> None:
        # The policy in force when the events are handled; a reload applies from the next poll.
        policy = policies.current
        now = datetime.now(UTC)
        if await handle_events(sessions, settings.topics, policy, rotations, envelopes, now):
            relay.wake()

    make_consumer = group_consumer(
        settings.kafka,
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
        batches=True,
        max_records=settings.consumer_batch_max,
    )
