"""Recording a case change: one timeline entry and one CaseEvent in the outbox, in the caller's
transaction, so every change is both explained and published (or neither)."""

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.models import Case, TimelineEntry, outbox
from shared.events import (
    CaseEvent,
    CaseSnapshot,
    CaseStatus,
    Category,
    EventType,
    Product,
    Severity,
    Topics,
)
from shared.kafka import Envelope, OutgoingMessage
from shared.outbox import add_to_outbox

SOURCE = "/flare/router"
# The least step of a case's clock (updated_at): PostgreSQL keeps microseconds.
TICK = timedelta(microseconds=1)


def snapshot(case: Case) -> CaseSnapshot:
    return CaseSnapshot(
        case_id=case.id,
        status=CaseStatus(case.status),
        title=case.title,
        category=Category(case.category),
        product=Product(case.product),
        correlation_key=case.correlation_key,
        created_at=case.created_at,
        updated_at=case.updated_at or case.created_at,
        severity=Severity(case.severity) if case.severity else None,
        score=case.score,
        team=case.team,
        watchers=list(case.watchers or []),
        assignee=case.assignee,
        report_count=case.report_count,
        sensitive=case.sensitive,
        ack_due_at=case.ack_due_at,
        resolve_due_at=case.resolve_due_at,
        policy_version=case.policy_version,
        region=case.region,
        surge=case.surge,
        first_seen_at=case.first_seen_at,
        last_seen_at=case.last_seen_at,
        velocity_per_hour=case.velocity_per_hour,
        previous_case_id=case.previous_case_id,
        resolution_code=case.resolution_code,
    )


async def record_change(
    session: AsyncSession,
    topics: Topics,
    case: Case,
    event_type: EventType,
    *,
    actor: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
    escalation_id: UUID | None = None,
    traceparent: str | None = None,
    **event_fields: Any,
) -> None:
    """Append the change to the case's timeline and queue its event for flare.cases.v1."""
    # Readers keep the newest snapshot of a case by updated_at, so every change moves it on,
    # by a tick at least: two changes at one moment (a report and the surge it makes, a report
    # received before a change it is consumed after) must not share one. Reports are stamped
    # with intake's received time and arrive late after a backlog; the clock never runs back.
    case.updated_at = at if case.updated_at is None else max(case.updated_at + TICK, at)
    session.add(
        TimelineEntry(
            case_id=case.id,
            at=at,
            actor=actor,
            action=event_type.value.removeprefix("flare.case."),
            detail=detail or {},
        )
    )
    note = detail.get("text") or detail.get("reason") if detail else None
    body = CaseEvent(
        case=snapshot(case),
        escalation_id=escalation_id,
        actor=actor,
        detail=str(note)[:2000] if note else None,
        **event_fields,
    )
    message = OutgoingMessage(
        topic=topics.cases,
        key=str(case.id),
        envelope=Envelope.new(event_type, SOURCE, body, traceparent),
    )
    add_to_outbox(session, outbox, message)
