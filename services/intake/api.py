"""intake's HTTP routes: parse, call the service, shape the response."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.schemas import EscalationAccepted, EscalationIn
from services.intake.service import accept_escalation
from services.intake.settings import IntakeSettings
from shared.outbox import OutboxRelay

router = APIRouter(prefix="/v1", tags=["escalations"])


@dataclass(frozen=True)
class Intake:
    """What the routes need; built once by create_app."""

    settings: IntakeSettings
    sessions: async_sessionmaker[AsyncSession]
    relay: OutboxRelay


def intake(request: Request) -> Intake:
    wired: Intake = request.app.state.intake
    return wired


@router.post(
    "/escalations",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: {"description": "Stored durably; it will reach the router."},
        422: {"description": "Invalid escalation (problem+json naming each field)."},
        503: {"description": "Database unavailable; nothing stored. Retry-After."},
    },
)
async def post_escalation(
    escalation: EscalationIn,
    wired: Annotated[Intake, Depends(intake)],
    traceparent: Annotated[str | None, Header()] = None,
) -> EscalationAccepted:
    accepted = await accept_escalation(
        wired.sessions, wired.settings.topics, escalation, traceparent
    )
    wired.relay.wake()
    return accepted
