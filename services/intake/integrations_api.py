"""Routes for tools that already exist: Alertmanager's webhook and PagerDuty's Events API v2."""

from uuid import UUID, uuid4

from fastapi import APIRouter, Request, status
from pydantic import ValidationError

from services.intake.api import (
    ERRORS,
    JsonBody,
    SendingPartner,
    partner_by_key,
    take_quota,
    wired,
)
from services.intake.integrations import from_alertmanager, from_pagerduty
from services.intake.partners import Partner
from services.intake.schemas import (
    AlertmanagerAlert,
    AlertmanagerReceipt,
    AlertmanagerWebhook,
    PagerDutyEvent,
    PagerDutyReceipt,
)
from services.intake.service import SourceStatus, accept_tool_alert, mark_by_source
from shared.events import Escalation
from shared.http import Problem, json_pointer
from shared.kafka import valid_traceparent
from shared.logging import get_logger

log = get_logger(__name__)
integration_router = APIRouter(tags=["integrations"])


def unmappable(error: ValidationError, prefix: tuple[str | int, ...]) -> Problem:
    """A payload that parsed but cannot become an escalation: 422 naming the tool's fields."""
    errors = [
        {"pointer": json_pointer(("body", *prefix, *item["loc"])), "detail": item["msg"]}
        for item in error.errors()
    ]
    return Problem(422, "The payload cannot become an escalation.", errors=errors)


def _mapped(partner: Partner, alerts: list[AlertmanagerAlert]) -> list[Escalation | None]:
    """Each firing alert as an escalation (None for a resolved one), or a 422 naming the first
    alert that cannot become one: checked for the whole batch before anything is stored."""
    mapped: list[Escalation | None] = []
    for index, alert in enumerate(alerts):
        try:
            mapped.append(from_alertmanager(partner, alert) if alert.status == "firing" else None)
        except ValidationError as error:
            raise unmappable(error, ("alerts", index)) from error
    return mapped


@integration_router.post(
    "/v1/integrations/alertmanager",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ERRORS,
)
async def post_alertmanager(
    request: Request, webhook: AlertmanagerWebhook, partner: SendingPartner
) -> AlertmanagerReceipt:
    """Alertmanager webhook (version 4). Point a receiver's `webhook_configs` here with
    `http_config.authorization.credentials` set to the partner API key. Each firing alert
    becomes an escalation (fingerprint = dedup_key); each resolved alert resolves its reports.
    Each alert takes a request's share of the partner's quota, up to the whole quota (the
    request took one): each is a transaction of its own, a stored report and a case when
    firing. Taken before the alerts are mapped, so a batch refused as unmappable costs it too."""
    alerts = min(len(webhook.alerts), partner.rate_limit_per_minute)
    if alerts > 1:
        take_quota(request, partner, alerts - 1)
    mapped = _mapped(partner, webhook.alerts)
    if webhook.truncated_alerts:
        # Alertmanager's `max_alerts` dropped these: they never reach us.
        log.warning(
            "alertmanager_alerts_truncated", partner=partner.name, alerts=webhook.truncated_alerts
        )
    trace = valid_traceparent(request.headers.get("traceparent"))
    accepted: list[UUID] = []
    repeated = resolved = 0
    intake = wired(request)
    sessions, topics = intake.sessions, intake.settings.topics
    for alert, escalation in zip(webhook.alerts, mapped, strict=True):
        if escalation is None:
            resolved += await mark_by_source(
                sessions, topics, partner, alert.fingerprint, "resolved"
            )
        elif receipt := await accept_tool_alert(sessions, topics, partner, escalation, trace):
            accepted.append(receipt.id)
        else:
            repeated += 1  # Alertmanager repeats an alert until it resolves
    if accepted or resolved:
        intake.relay.wake()
    return AlertmanagerReceipt(accepted=accepted, repeated=repeated, resolved=resolved)


@integration_router.post(
    "/v2/enqueue",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[JsonBody],
    responses=ERRORS | {401: {**ERRORS[401], "description": "routing_key is not a partner key."}},
)
async def post_pagerduty(request: Request, event: PagerDutyEvent) -> PagerDutyReceipt:
    """PagerDuty Events API v2: `trigger` reports an escalation (a repeated dedup_key of an
    unresolved one joins it), `acknowledge` and `resolve` record what the tool says."""
    partner = await partner_by_key(request, event.routing_key)
    take_quota(request, partner)
    intake = wired(request)
    if event.event_action != "trigger":
        assert event.dedup_key is not None  # the schema requires it for these actions
        said: SourceStatus = "acknowledged" if event.event_action == "acknowledge" else "resolved"
        if await mark_by_source(
            intake.sessions, intake.settings.topics, partner, event.dedup_key, said
        ):
            intake.relay.wake()
        return PagerDutyReceipt(dedup_key=event.dedup_key)
    assert event.payload is not None  # the schema requires it for a trigger
    dedup_key = event.dedup_key or uuid4().hex
    try:
        escalation = from_pagerduty(partner, event.payload, dedup_key)
    except ValidationError as error:
        raise unmappable(error, ("payload",)) from error
    trace = valid_traceparent(request.headers.get("traceparent"))
    # A trigger repeating an unresolved dedup_key joins it: nothing new is stored.
    if await accept_tool_alert(intake.sessions, intake.settings.topics, partner, escalation, trace):
        intake.relay.wake()
    return PagerDutyReceipt(dedup_key=dedup_key)
