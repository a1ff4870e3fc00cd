"""intake's native partner routes: parse, authenticate, call the service, shape the response."""

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.partners import Partner, authenticate
from services.intake.ratelimit import RateLimiter, retry_after_header
from services.intake.schemas import EscalationAccepted, EscalationIn, EscalationStatus
from services.intake.service import Idempotency, accept_escalation, escalation_status
from services.intake.settings import IntakeSettings
from shared.group_commit import GroupCommit
from shared.http import PROBLEM, Problem
from shared.invalidation import InvalidatedCache
from shared.outbox import OutboxRelay

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON.", **PROBLEM},
    401: {"description": "No valid partner API key (Authorization: Bearer).", **PROBLEM},
    415: {"description": "The body is not application/json.", **PROBLEM},
    422: {"description": "Invalid escalation: `errors` names each field.", **PROBLEM},
    429: {"description": "Over this partner's rate limit; see Retry-After.", **PROBLEM},
    503: {"description": "Database unavailable; nothing stored. Retry-After.", **PROBLEM},
}
# Idempotency keys are opaque to us; printable ASCII keeps them safe to store and log.
IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,255}$"
bearer = HTTPBearer(auto_error=False, description="A partner API key from `partner create`.")


@dataclass(frozen=True)
class Intake:
    """What the routes need; built once by create_app."""

    settings: IntakeSettings
    sessions: async_sessionmaker[AsyncSession]
    group_commit: GroupCommit
    relay: OutboxRelay
    limiter: RateLimiter
    partner_keys: InvalidatedCache[str, Partner]


def wired(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


class Unauthorized(Problem):
    def __init__(self) -> None:
        super().__init__(
            401,
            "A valid partner API key is required: Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def partner_by_key(request: Request, api_key: str) -> Partner:
    intake = wired(request)
    partner = await authenticate(intake.sessions, intake.partner_keys, api_key)
    if partner is None:
        raise Unauthorized()
    request.state.partner = partner.name  # for the outcome metrics
    return partner


def take_quota(request: Request, partner: Partner, tokens: int = 1) -> None:
    """Refused before anything touches the database, so a flood costs the others little."""
    wait_s = wired(request).limiter.take(partner.id, partner.rate_limit_per_minute, tokens)
    if wait_s:
        raise Problem(
            429,
            f"Rate limit of {partner.rate_limit_per_minute} requests per minute exceeded.",
            headers={"Retry-After": retry_after_header(wait_s)},
        )


def require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(415, "The body must be JSON, sent with Content-Type: application/json.")


# Dependencies are coroutines even when they need not be: FastAPI runs a plain function in a
# worker thread, two thread hops per request for nothing. And they are few: FastAPI's solving
# costs more per dependency and per declared header than these checks (bench/README.md).
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def current_partner(request: Request, credentials: Credentials) -> Partner:
    if credentials is None:
        raise Unauthorized()
    return await partner_by_key(request, credentials.credentials)


async def sending_partner(request: Request, credentials: Credentials) -> Partner:
    """The partner sending a JSON body: authenticated and within its rate limit, in that order."""
    require_json(request)
    partner = await current_partner(request, credentials)
    take_quota(request, partner)
    return partner


async def json_body(request: Request) -> None:
    require_json(request)


CurrentPartner = Annotated[Partner, Depends(current_partner)]
SendingPartner = Annotated[Partner, Depends(sending_partner)]
JsonBody = Depends(json_body)


partner_router = APIRouter(prefix="/v1", tags=["escalations"])


@partner_router.post(
    "/escalations",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: {"description": "Stored durably; it will reach the router."},
        409: {"description": "Idempotency-Key already used with another body.", **PROBLEM},
        **ERRORS,
    },
)
async def post_escalation(
    request: Request,
    escalation: EscalationIn,
    partner: SendingPartner,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY,
            description="Repeat a request safely: the same key and body answer the first receipt.",
        ),
    ] = None,
    traceparent: Annotated[str | None, Header()] = None,
) -> EscalationAccepted:
    """Report an escalation. `202` means it is stored and will reach the router exactly once."""
    intake = wired(request)
    idempotency = (
        Idempotency(idempotency_key, intake.settings.idempotency_ttl)
        if idempotency_key is not None
        else None
    )
    accepted = await accept_escalation(
        intake.sessions,
        intake.group_commit,
        intake.settings.topics,
        partner,
        escalation,
        traceparent,
        idempotency,
    )
    intake.relay.wake()
    return accepted


@partner_router.get(
    "/escalations/{escalation_id}",
    responses={
        404: {"description": "No such escalation from this partner.", **PROBLEM},
        **{code: ERRORS[code] for code in (401, 422, 503)},
    },
)
async def get_escalation(
    request: Request, escalation_id: UUID, partner: CurrentPartner
) -> EscalationStatus:
    """One of your reports and where it is: `accepted`, then `routed` with its case."""
    return await escalation_status(wired(request).sessions, partner, escalation_id)
