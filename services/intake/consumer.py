"""intake's Kafka loop on the cases topic: case events -> where their reports are -> commit."""

from collections.abc import Sequence

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.service import record_case_events
from services.intake.settings import IntakeSettings
from shared.events import CaseEvent, is_case_event
from shared.kafka import ConsumerLoop, Envelope, group_consumer


def status_consumer(
    settings: IntakeSettings,
    sessions: async_sessionmaker[AsyncSession],
    registry: CollectorRegistry,
) -> ConsumerLoop:
    async def handle(envelopes: Sequence[Envelope]) -> None:
        events = [(e.body(CaseEvent), e.time) for e in envelopes if is_case_event(e.event_type)]
        if events:
            await record_case_events(sessions, events)

    make_consumer = group_consumer(
        settings.kafka,
        settings.topics.cases,
        settings.status_consumer_group,
        "flare-intake",
    )
    # No DLQ here: the router owns the cases topic and its dead letters (ADR 0003); a record
    # intake cannot read is logged and skipped so status read-back keeps going.
    return ConsumerLoop(
        "intake_status",
        make_consumer,
        handle,
        registry,
        batches=True,
        max_records=settings.consumer_batch_max,
    )
