"""intake's use cases."""

from datetime import UTC, datetime
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.models import EscalationRecord, outbox
from services.intake.schemas import EscalationAccepted, EscalationIn
from shared.events import Escalation, EscalationReceived, EventType, Topics
from shared.kafka import Envelope, OutgoingMessage
from shared.logging import get_logger
from shared.outbox import add_to_outbox

log = get_logger(__name__)
SOURCE = "/flare/intake"


async def accept_escalation(
    sessions: async_sessionmaker[AsyncSession],
    topics: Topics,
    escalation: EscalationIn,
    traceparent: str | None,
) -> EscalationAccepted:
    """Store the escalation and its `received` event in one transaction: both or neither."""
    escalation_id, received_at = uuid4(), datetime.now(UTC)
    correlation_key = escalation.correlation_key(escalation_id)
    event = EscalationReceived(
        escalation_id=escalation_id,
        received_at=received_at,
        correlation_key=correlation_key,
        escalation=Escalation.model_validate(escalation.model_dump()),
    )
    async with sessions.begin() as session:
        session.add(
            EscalationRecord(
                id=escalation_id,
                received_at=received_at,
                status="accepted",
                category=escalation.category.value,
                correlation_key=correlation_key,
                body=escalation.model_dump(mode="json"),
            )
        )
        await add_to_outbox(
            session,
            outbox,
            OutgoingMessage(
                topic=topics.escalations,
                key=correlation_key,
                envelope=Envelope.new(EventType.ESCALATION_RECEIVED, SOURCE, event, traceparent),
            ),
        )
    log.info(
        "escalation_accepted",
        escalation_id=str(escalation_id),
        category=escalation.category.value,
        correlation_key=correlation_key,
    )
    return EscalationAccepted(id=escalation_id, status="accepted", received_at=received_at)
