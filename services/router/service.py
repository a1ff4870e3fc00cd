"""router's use cases."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.models import Case, ProcessedEvent, outbox
from shared.events import (
    CaseEvent,
    CaseSnapshot,
    CaseStatus,
    EscalationReceived,
    EventType,
    Topics,
)
from shared.kafka import Envelope, InvalidEvent, OutgoingMessage
from shared.logging import get_logger
from shared.outbox import add_to_outbox

log = get_logger(__name__)
SOURCE = "/flare/router"


async def open_case(
    sessions: async_sessionmaker[AsyncSession], topics: Topics, envelope: Envelope
) -> UUID | None:
    """Open a case for a received escalation, exactly once per event id.

    Returns the new case id, or None when this event was handled before (a redelivery).
    """
    if envelope.event_type != EventType.ESCALATION_RECEIVED:
        raise InvalidEvent(f"router cannot handle events of type {envelope.event_type!r}")
    received = envelope.body(EscalationReceived)
    async with sessions.begin() as session:
        first_time = await session.scalar(
            insert(ProcessedEvent)
            .values(event_id=envelope.id)
            .on_conflict_do_nothing()
            .returning(ProcessedEvent.event_id)
        )
        if first_time is None:
            log.info(
                "event_already_handled",
                event_id=str(envelope.id),
                escalation_id=str(received.escalation_id),
            )
            return None
        case = Case(
            id=uuid4(),
            escalation_id=received.escalation_id,
            correlation_key=received.correlation_key,
            status="open",
            category=received.escalation.category.value,
            product=received.escalation.product.value,
            title=received.escalation.title,
            created_at=datetime.now(UTC),
        )
        session.add(case)
        created = CaseEvent(
            case=CaseSnapshot(
                case_id=case.id,
                status=CaseStatus.OPEN,
                title=case.title,
                category=received.escalation.category,
                product=received.escalation.product,
                correlation_key=case.correlation_key,
                created_at=case.created_at,
                updated_at=case.created_at,
            ),
            escalation_id=received.escalation_id,
            actor="router",
        )
        await add_to_outbox(
            session,
            outbox,
            OutgoingMessage(
                topic=topics.cases,
                key=str(case.id),
                envelope=Envelope.new(
                    EventType.CASE_CREATED, SOURCE, created, envelope.traceparent
                ),
            ),
        )
    log.info("case_created", case_id=str(case.id), escalation_id=str(received.escalation_id))
    return case.id
