"""notifier's HTTP routes: live streams, subscriptions, the delivery log and the console."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.requests import HTTPConnection
from starlette.status import WS_1008_POLICY_VIOLATION

from services.notifier import live, schemas, service
from services.notifier.console import console_page, console_policy
from services.notifier.filters import EventFilter
from services.notifier.hub import StreamHub
from shared.auth import (
    AUTH_ERRORS,
    AnyResponder,
    Responder,
    Role,
    bearer_token,
    require_role,
    unauthorized,
    verify_token,
)
from shared.events import Severity
from shared.http import PROBLEM, Problem

streams = APIRouter(prefix="/v1", tags=["streams"])
router = APIRouter(prefix="/v1", tags=["deliveries"], responses=AUTH_ERRORS)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such id.", **PROBLEM}}
console = APIRouter(include_in_schema=False)
Manager = Annotated[Responder, Depends(require_role(Role.LEAD, Role.ADMIN))]
Teams = Annotated[
    list[str] | None, Query(alias="team", description="Only these teams (or watchers).")
]
MinSeverity = Annotated[Severity | None, Query(description="SEV2 passes SEV1 and SEV2.")]
Token = Annotated[str | None, Query(description="The responder token, for browsers.")]


def stream_responder(connection: HTTPConnection, token: str | None) -> Responder:
    """WebSocket and EventSource cannot set headers in browsers: a `token` parameter will do."""
    raw = token or bearer_token(connection.headers.get("authorization"))
    responder = verify_token(connection.app.state.jwt_secret, raw)
    # A token just past its expiry still verifies (the clock allowance), but a stream ends at
    # the expiry: it would end at once, and a browser's EventSource reconnect every few seconds.
    if responder.expires_at <= datetime.now(UTC):
        raise unauthorized("The responder token has expired.")
    return responder


@streams.websocket("/ws")
async def websocket_stream(
    websocket: WebSocket, token: Token = None, teams: Teams = None, min_severity: MinSeverity = None
) -> None:
    """Case events as JSON `{id, type, time, data}`, from the moment of connection."""
    try:
        responder = stream_responder(websocket, token)
    except Problem as problem:
        await websocket.close(code=WS_1008_POLICY_VIOLATION, reason=problem.detail[:120])
        return
    hub: StreamHub = websocket.app.state.hub
    await websocket.accept()
    subscriber, _ = hub.subscribe(EventFilter.of(teams=teams or (), min_severity=min_severity))
    await live.pump_websocket(websocket, hub, subscriber, responder.expires_at)


@streams.get("/stream", response_class=StreamingResponse, responses={401: AUTH_ERRORS[401]})
async def event_stream(
    request: Request,
    token: Token = None,
    teams: Teams = None,
    min_severity: MinSeverity = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Case events as Server-Sent Events; reconnect with `Last-Event-ID` to get what you missed."""
    responder = stream_responder(request, token)
    hub: StreamHub = request.app.state.hub
    subscriber, missed = hub.subscribe(
        EventFilter.of(teams=teams or (), min_severity=min_severity), last_event_id
    )
    heartbeat_s = request.app.state.settings.stream_heartbeat_s
    body = live.sse_events(hub, subscriber, missed, heartbeat_s, responder.expires_at)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


@router.get("/cases/{case_id}", responses=NOT_FOUND)
async def get_case(request: Request, case_id: UUID, _: AnyResponder) -> schemas.CaseView:
    """The newest snapshot of a case this notifier has seen (what alert links open)."""
    return await service.get_case(request.app.state.sessions, case_id)


@console.get("/", response_class=HTMLResponse)
@console.get("/cases/{case_id}", response_class=HTMLResponse)
@console.get("/trends", response_class=HTMLResponse)
async def console_view(request: Request) -> HTMLResponse:
    """The responder console; it holds no data and asks for a token to read the APIs."""
    router_url: str = request.app.state.settings.console_router_url
    return HTMLResponse(
        console_page(router_url),
        headers={
            "content-security-policy": console_policy(router_url),
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )


@router.post("/subscriptions", status_code=201)
async def create_subscription(
    request: Request, body: schemas.SubscriptionCreate, responder: Manager
) -> schemas.SubscriptionCreated:
    """A webhook, chat or email destination. A webhook's signing secret is returned once."""
    state = request.app.state
    created = await service.create_subscription(
        state.sessions, body, responder.subject, state.senders.check_target
    )
    state.destinations.invalidate()  # at once here; other replicas on its NOTIFY
    return created


@router.get("/subscriptions")
async def list_subscriptions(request: Request, _: Manager) -> list[schemas.Subscription]:
    return await service.list_subscriptions(request.app.state.sessions)


@router.delete("/subscriptions/{subscription_id}", status_code=204, responses=NOT_FOUND)
async def delete_subscription(request: Request, subscription_id: UUID, _: Manager) -> None:
    await service.delete_subscription(request.app.state.sessions, subscription_id)
    request.app.state.destinations.invalidate()  # at once here; other replicas on its NOTIFY


@router.get("/deliveries")
async def list_deliveries(
    request: Request,
    _: AnyResponder,
    case_id: UUID | None = None,
    kind: schemas.DeliveryKind | None = None,
    channel: schemas.Channel | None = None,
    status: schemas.DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> schemas.DeliveryList:
    """Every delivery, newest first, with each attempt's status code and latency."""
    items = await service.list_deliveries(
        request.app.state.sessions, case_id, kind, channel, status, limit
    )
    return schemas.DeliveryList(items=items)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    responses=NOT_FOUND
    | {409: {"description": "Already queued, or cancelled (`detail` says why).", **PROBLEM}},
)
async def redeliver(
    request: Request, delivery_id: UUID, responder: Manager
) -> dict[str, Literal["pending"]]:
    """Queue a dead (or delivered) delivery again, with a fresh set of attempts."""
    await service.redeliver(request.app.state.sessions, delivery_id, responder.subject)
    request.app.state.wake_deliveries()
    return {"status": "pending"}
