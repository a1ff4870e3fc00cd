"""notifier's use cases: take in a case event, manage subscriptions, read and redo deliveries."""

import base64
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import groupby
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from prometheus_client import CollectorRegistry
from sqlalchemy import DateTime, Executable, Text, Uuid, bindparam, exists, literal, select, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier import schemas
from services.notifier.egress import TargetRefused
from services.notifier.escalation import first_fire_at
from services.notifier.filters import EventFilter
from services.notifier.models import (
    DELIVERY_DUE,
    TIMER_PENDING,
    case_views,
    deliveries,
    delivery_attempts,
    delivery_epoch,
    escalation_policies,
    escalation_timers,
    subscriptions,
)
from services.notifier.settings import NotifierSettings
from services.notifier.templates import is_sensitive, make_alert, render, render_risk
from services.notifier.timers import validated_policy
from shared.events import (
    CaseEvent,
    CaseSnapshot,
    CaseStatus,
    EmergingRisk,
    EventType,
    Severity,
    is_case_event,
)
from shared.http import Problem
from shared.invalidation import InvalidatedCache
from shared.kafka import Envelope
from shared.logging import get_logger

log = get_logger(__name__)
Sessions = async_sessionmaker[AsyncSession]


async def delivery_epoch_of(sessions: Sessions) -> datetime:
    """When deliveries first started (recorded on the first call ever)."""
    async with sessions.begin() as session:
        await session.execute(
            insert(delivery_epoch)
            .values(name="deliveries", started_at=datetime.now(UTC))
            .on_conflict_do_nothing()
        )
        started = await session.scalar(
            select(delivery_epoch.c.started_at).where(delivery_epoch.c.name == "deliveries")
        )
    assert isinstance(started, datetime)
    return started


@dataclass(frozen=True)
class Destinations:
    """The active subscriptions and each team's escalation policy: needed for every event,
    changed a few times a week, so kept in memory until they change (ADR 0011)."""

    subscriptions: tuple[Mapping[str, Any], ...]
    policies: dict[str, Any]  # as stored: validated when used, so a bad one fails its team alone


# NOTIFYed by triggers on every change to subscriptions and policies (notifier migration 0004).
DESTINATIONS_CHANGED = "flare_notifier_destinations"
DestinationsCache = InvalidatedCache[str, Destinations]
"""One entry: the destinations, read again after any change."""


def destinations_cache(registry: CollectorRegistry) -> DestinationsCache:
    return DestinationsCache("notifier_destinations", registry)


async def _destinations(session: AsyncSession, cache: DestinationsCache) -> Destinations:
    async def load() -> Destinations:
        active = await session.execute(
            select(subscriptions).where(subscriptions.c.deleted_at.is_(None))
        )
        policies = await session.execute(
            select(escalation_policies.c.team, escalation_policies.c.policy)
        )
        return Destinations(
            tuple(dict(row) for row in active.mappings()),
            {team: policy for team, policy in policies},
        )

    found = await cache.get("destinations", load)
    assert found is not None  # `load` always finds them (maybe none of each)
    return found


@dataclass(frozen=True)
class Recorded:
    """What a batch of events left to do now: deliveries queued; whether a new case's timer
    was started already due."""

    deliveries: int
    timers_due: bool


async def record_case_events(
    sessions: Sessions,
    settings: NotifierSettings,
    envelopes: Sequence[Envelope],
    epoch: datetime,
    cache: DestinationsCache,
) -> Recorded:
    """Queue one delivery per matching subscription (of case events and emerging risks) and
    move each case's escalation timer, for the events in one transaction.

    Idempotent: a redelivered event inserts nothing new (one row per event and destination).
    """
    now = datetime.now(UTC)
    history_ends = epoch - timedelta(seconds=settings.delivery_max_event_age_s)
    queued = 0
    async with sessions.begin() as session:
        destinations = await _destinations(session, cache)
        events: list[tuple[Envelope, CaseEvent]] = []
        risks: list[tuple[Envelope, EmergingRisk]] = []
        for envelope in envelopes:
            if is_case_event(envelope.event_type):
                events.append((envelope, envelope.body(CaseEvent)))
            elif envelope.event_type == EventType.RISK_EMERGING:
                risks.append((envelope, envelope.body(EmergingRisk)))
            else:
                log.info("event_ignored", event_id=str(envelope.id), type=envelope.event_type)
        await _project_cases(session, events)
        timers: list[TimerChange] = []
        timers_due = False
        created = {
            event.case.case_id
            for envelope, event in events
            if envelope.event_type == EventType.CASE_CREATED
        }
        for envelope, event in events:
            fresh = envelope.time >= history_ends
            stored = destinations.policies.get(event.case.team or "") if fresh else None
            changed_at = envelope.time if fresh else None
            new_case = event.case.case_id in created
            changes = _timer_changes(settings, event, now, stored, changed_at, new_case)
            timers += changes
            # Every event of an open case tries to start its timer; a new case's really does, and a
            # case moved to another team moves it: either may be due at once.
            due = WAKES_TIMERS.get(envelope.event_type)
            timers_due |= due is not None and any(
                due in change and change[due] <= now for _, change in changes
            )
        await _apply_in_order(session, timers)
        # Each event with how to render it for a channel: a case's alert, or an emerging risk.
        alert_settings = (settings.console_url, settings.sensitive_categories)
        outgoing: list[
            tuple[Envelope, CaseSnapshot | EmergingRisk, Callable[[str], dict[str, Any]]]
        ] = [
            (
                envelope,
                event.case,
                partial(
                    render,
                    alert=make_alert(envelope.event_type, event, *alert_settings),
                    occurred_at=envelope.time,
                ),
            )
            for envelope, event in events
        ]
        outgoing += [
            (
                envelope,
                risk,
                partial(
                    render_risk,
                    risk=risk,
                    console_url=settings.console_url,
                    sensitive_categories=settings.sensitive_categories,
                    occurred_at=envelope.time,
                ),
            )
            for envelope, risk in risks
        ]
        for envelope, about, body_for in outgoing:
            if envelope.time < history_ends:
                log.info("event_too_old_to_deliver", event_id=str(envelope.id))
                continue
            queued += await _queue_subscriptions(
                session, envelope, about, body_for, now, destinations.subscriptions
            )
    return Recorded(queued, timers_due)


def _upsert_case_view() -> Insert:
    """A case's newest snapshot, unless the stored one is newer; executed with a poll's rows.
    Built once: it runs on every poll."""
    statement = insert(case_views)
    return statement.on_conflict_do_update(
        index_elements=["case_id"],
        set_={c.name: statement.excluded[c.name] for c in case_views.c if not c.primary_key},
        where=case_views.c.updated_at <= statement.excluded.updated_at,
    )


UPSERT_CASE_VIEW = _upsert_case_view()


async def _project_cases(
    session: AsyncSession, events: Sequence[tuple[Envelope, CaseEvent]]
) -> None:
    """Keep the newest snapshot per case (events of one case arrive in order; a replay of an
    older one does not roll it back): the newest of the events for each case, in one statement
    (on a tie in time, the later event, as one event at a time would keep)."""
    newest: dict[UUID, tuple[str, CaseEvent]] = {}
    for envelope, event in events:
        kept = newest.get(event.case.case_id)
        if kept is None or kept[1].case.updated_at <= event.case.updated_at:
            newest[event.case.case_id] = (envelope.event_type, event)
    if not newest:
        return
    rows = [
        {
            "case_id": case_id,
            "snapshot": event.case.model_dump(mode="json"),
            "last_event_type": event_type,
            "updated_at": event.case.updated_at,
        }
        for case_id, (event_type, event) in newest.items()
    ]
    await session.execute(UPSERT_CASE_VIEW, rows)


async def get_case(sessions: Sessions, case_id: UUID) -> schemas.CaseView:
    async with sessions() as session:
        row = (
            (await session.execute(select(case_views).where(case_views.c.case_id == case_id)))
            .mappings()
            .one_or_none()
        )
    if row is None:
        raise Problem(404, f"The notifier has seen no event of case {case_id}.")
    return schemas.CaseView(
        case=row["snapshot"], last_event_type=row["last_event_type"], updated_at=row["updated_at"]
    )


async def _queue_subscriptions(
    session: AsyncSession,
    envelope: Envelope,
    about: CaseSnapshot | EmergingRisk,
    body_for: Callable[[str], dict[str, Any]],
    now: datetime,
    active: Sequence[Mapping[str, Any]],
) -> int:
    """One delivery of the event per subscription that wants it, its body rendered for the
    subscription's channel (`body_for`). The event is `about` a case, or is an emerging risk:
    filtered as about no case, but logged with the case it names, if any (a subject's)."""
    case_id: UUID | None
    if isinstance(about, CaseSnapshot):
        case, category, case_id = about, about.category, about.case_id
    else:
        case, category, case_id = None, about.category, about.case_id
    queued = 0
    for subscription in active:
        # An event about no case goes only to subscriptions that name its type: a receiver of
        # case events keeps getting only those.
        if case is None and envelope.event_type not in subscription["event_types"]:
            continue
        if not subscription_filter(subscription).matches(envelope.event_type, case, category):
            continue
        inserted = await session.scalar(
            insert(deliveries)
            .values(
                id=uuid4(),
                event_id=envelope.id,
                destination=f"subscription:{subscription['id']}",
                subscription_id=subscription["id"],
                case_id=case_id,
                kind="subscription",
                channel=subscription["channel"],
                target=subscription["target"],
                event_type=envelope.event_type,
                event_time=envelope.time,
                body=body_for(subscription["channel"]),
                status="pending",
                next_attempt_at=now,
            )
            .on_conflict_do_nothing(constraint="deliveries_once_per_destination")
            .returning(deliveries.c.id)
        )
        queued += inserted is not None
    return queued


def subscription_filter(subscription: Mapping[str, Any]) -> EventFilter:
    severity = subscription["min_severity"]
    return EventFilter.of(
        teams=subscription["teams"],
        categories=subscription["categories"],
        event_types=subscription["event_types"],
        min_severity=Severity(severity) if severity else None,
    )


TimerChange = tuple[Executable, dict[str, Any]]
# The events whose timer change may make a step due at once, and the change's time for it.
WAKES_TIMERS: dict[str, str] = {
    EventType.CASE_CREATED: "first_fire_at",
    EventType.CASE_REASSIGNED: "refire_at",
}
_TIMER = escalation_timers.c
_STOP_TIMER = (
    update(escalation_timers)
    .where(_TIMER.case_id == bindparam("timer_case"), _TIMER.state != "stopped")
    .values(state="stopped")
)
# Only the case as it stands changes its timer: an event older than the newest snapshot seen
# (`case_views`, brought up to date earlier in the same transaction) is history replayed, by a
# redelivered poll say, and must not move the timer back to a team the case has left.
_CURRENT = ~exists().where(
    case_views.c.case_id == bindparam("timer_case"),
    case_views.c.updated_at > bindparam("case_updated_at"),
)
_FOLLOW_CASE = (
    update(escalation_timers)
    .where(
        _TIMER.case_id == bindparam("timer_case"),
        TIMER_PENDING,
        _TIMER.team == bindparam("case_team"),
        _CURRENT,
    )
    .values(
        severity=bindparam("case_severity"),
        assignee=bindparam("case_assignee"),
        title=bindparam("case_title"),
    )
)
# A case moved to another team escalates by that team's policy, from its first step, timed from
# the move (`refire_at`); a team without a policy ends the timer at its next poll (the timer
# worker finds none). Also a timer whose policy had run out ("done"): the new team has not been
# paged. Not a stopped one: the case was acknowledged before it moved. The timer starts a new
# round (`started_at`, part of each page's id): a target the old team's steps paged is paged
# again, and the old round's pages still due are cancelled when claimed (delivery_worker).
_MOVED = (
    update(escalation_timers)
    .where(
        _TIMER.case_id == bindparam("timer_case"),
        _TIMER.state != "stopped",
        _TIMER.team != bindparam("case_team"),
        _CURRENT,
    )
    .values(
        team=bindparam("case_team"),
        severity=bindparam("case_severity"),
        assignee=bindparam("case_assignee"),
        title=bindparam("case_title"),
        next_step=0,
        fire_at=bindparam("refire_at"),
        state="pending",
        started_at=bindparam("moved_at"),
    )
    .cte("moved")
)
# Started only by the case as it stands: a replayed event of an open case that has since been
# acknowledged (from the DLQ, say) must not start a timer nothing would stop.
_START_TIMER = (
    insert(escalation_timers)
    .from_select(
        [c.name for c in escalation_timers.c],
        select(
            bindparam("timer_case", type_=Uuid),
            bindparam("case_team", type_=Text),
            bindparam("case_severity", type_=Text),
            bindparam("case_assignee", type_=Text),
            bindparam("case_title", type_=Text),
            literal(0),
            bindparam("first_fire_at", type_=DateTime(timezone=True)),
            literal("pending"),
            bindparam("timer_started_at", type_=DateTime(timezone=True)),
        ).where(_CURRENT),
    )
    .on_conflict_do_nothing(index_elements=["case_id"])
)
# _FOLLOW_CASE or _MOVED (their teams' conditions exclude each other: a statement must not
# update one row twice), then _START_TIMER, in one statement (no parameter is named after a
# column: the UPDATE would take it as one more column to set): a poll's events of open cases go
# in one executemany instead of alternating statements. Not an upsert (ON CONFLICT DO UPDATE):
# that locks the timer even when nothing changes; the UPDATEs lock only the timer they change,
# and the INSERT none.
_START_FOLLOW_OR_MOVE = _START_TIMER.add_cte(_FOLLOW_CASE.cte("followed"), _MOVED)
# The same for a team without a policy: nothing to start.
_FOLLOW_OR_MOVE = _FOLLOW_CASE.add_cte(_MOVED)


def _timer_changes(
    settings: NotifierSettings,
    event: CaseEvent,
    now: datetime,
    stored_policy: Any,
    changed_at: datetime | None,
    new_case: bool,
) -> list[TimerChange]:
    """Acknowledge or resolve stops the case's timer; an open case's pending timer follows its
    severity, assignee and title, and one is started with its team's policy as stored (None
    when it has none): timed from the case's opening for a case created in this poll (the
    poll's newest event of the case starts it, see `_CURRENT`), else from the change. A
    case moved to another team moves its timer to that team's policy (`_MOVED`), timed from
    the change (`changed_at`, None when the event is too old to start or move a timer). The stop
    does not wait for a page being sent: one claimed before it still goes out, none claimed
    after it does (ADR 0015)."""
    case = event.case
    if case.status is not CaseStatus.OPEN:
        return [(_STOP_TIMER, {"timer_case": case.case_id})]
    if not case.team:
        return []
    title = None if is_sensitive(case, settings.sensitive_categories) else case.title
    now_is = {
        "timer_case": case.case_id,
        "case_team": case.team,
        "case_severity": case.severity,
        "case_assignee": case.assignee,
        "case_title": title,
        "case_updated_at": case.updated_at,
    }
    if changed_at is None:
        return [(_FOLLOW_CASE, now_is)]
    if stored_policy is None:
        return [(_FOLLOW_OR_MOVE, {**now_is, "refire_at": changed_at, "moved_at": changed_at})]
    policy = validated_policy(case.team, stored_policy)
    opened = case.created_at if new_case else changed_at
    # A policy that does not validate starts its timer due at once: the timer worker holds it
    # until the policy is fixed, while the event's other work goes on.
    first, refire = (
        (opened, changed_at)
        if policy is None
        else (
            first_fire_at(policy, case.severity, opened),
            first_fire_at(policy, case.severity, changed_at),
        )
    )
    start = {
        **now_is,
        "first_fire_at": first,
        "timer_started_at": now,
        "refire_at": refire,
        "moved_at": changed_at,
    }
    return [(_START_FOLLOW_OR_MOVE, start)]


async def _apply_in_order(session: AsyncSession, changes: Sequence[TimerChange]) -> None:
    """Each change in order; a run of the same statement goes in one executemany (compiled
    once, one round trip), which still runs its rows one after another."""
    for statement, run in groupby(changes, key=lambda change: change[0]):
        await session.execute(statement, [parameters for _, parameters in run])


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


async def create_subscription(
    sessions: Sessions,
    request: schemas.SubscriptionCreate,
    actor: str,
    check_target: Callable[[str], Awaitable[None]],
) -> schemas.SubscriptionCreated:
    """A new destination; a URL Flare may not call (SSRF rules) is refused with a 422."""
    if request.channel != "email":
        try:
            await check_target(request.target)
        except TargetRefused as refused:
            raise Problem(
                422,
                f"This target is refused: {refused}.",
                errors=[{"pointer": "/target", "detail": str(refused)}],
            ) from refused
    values = {
        "id": uuid4(),
        "channel": request.channel,
        "target": request.target,
        "secret": new_webhook_secret() if request.channel == "webhook" else None,
        "description": request.description,
        "teams": request.teams,
        "categories": [category.value for category in request.categories],
        "event_types": [event_type.value for event_type in request.event_types],
        "min_severity": request.min_severity,
        "created_by": actor,
    }
    async with sessions.begin() as session:
        row = (
            (await session.execute(insert(subscriptions).values(values).returning(subscriptions)))
            .mappings()
            .one()
        )
    log.info("subscription_created", subscription_id=str(row["id"]), channel=request.channel)
    return schemas.SubscriptionCreated.model_validate(dict(row))


async def list_subscriptions(sessions: Sessions) -> list[schemas.Subscription]:
    async with sessions() as session:
        rows = await session.execute(
            select(subscriptions)
            .where(subscriptions.c.deleted_at.is_(None))
            .order_by(subscriptions.c.created_at)
        )
        return [schemas.Subscription.model_validate(dict(row)) for row in rows.mappings()]


async def delete_subscription(sessions: Sessions, subscription_id: UUID) -> None:
    """Stops sending: the subscription's queued deliveries are cancelled; its log stays."""
    async with sessions.begin() as session:
        deleted = await session.scalar(
            update(subscriptions)
            .where(subscriptions.c.id == subscription_id, subscriptions.c.deleted_at.is_(None))
            .values(deleted_at=datetime.now(UTC))
            .returning(subscriptions.c.id)
        )
        if deleted is None:
            raise Problem(404, f"There is no subscription {subscription_id}.")
        await session.execute(
            update(deliveries)
            .where(deliveries.c.subscription_id == subscription_id)
            .where(DELIVERY_DUE)
            .values(status="cancelled", last_error="subscription deleted")
        )
    log.info("subscription_deleted", subscription_id=str(subscription_id))


async def list_deliveries(
    sessions: Sessions,
    case_id: UUID | None,
    kind: str | None,
    channel: str | None,
    status: str | None,
    limit: int,
) -> list[schemas.Delivery]:
    query = select(deliveries).order_by(deliveries.c.created_at.desc()).limit(limit)
    if case_id is not None:
        query = query.where(deliveries.c.case_id == case_id)
    if kind is not None:
        query = query.where(deliveries.c.kind == kind)
    if channel is not None:
        query = query.where(deliveries.c.channel == channel)
    if status is not None:
        query = query.where(deliveries.c.status == status)
    async with sessions() as session:
        rows = list((await session.execute(query)).mappings())
        attempts = await _attempts_of(session, [row["id"] for row in rows])
    return [
        schemas.Delivery.model_validate(
            {
                **row,
                "target": shown_target(row["channel"], row["target"]),
                "attempt_log": attempts.get(row["id"], []),
            }
        )
        for row in rows
    ]


def shown_target(channel: str, target: str) -> str:
    """Chat incoming-webhook URLs carry their credential in the path, and webhook URLs often
    in the path or query: show the host only. Email addresses are shown as they are."""
    if channel not in ("chat", "webhook"):
        return target
    parts = urlsplit(target)
    return f"{parts.scheme}://{parts.netloc}/…"


async def _attempts_of(
    session: AsyncSession, delivery_ids: Sequence[UUID]
) -> dict[UUID, list[dict[str, Any]]]:
    found: dict[UUID, list[dict[str, Any]]] = {}
    if not delivery_ids:
        return found
    rows = await session.execute(
        select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id.in_(delivery_ids))
        .order_by(delivery_attempts.c.id)
    )
    for row in rows.mappings():
        found.setdefault(row["delivery_id"], []).append(dict(row))
    return found


async def redeliver(sessions: Sessions, delivery_id: UUID, actor: str) -> None:
    """Send a dead (or delivered) delivery again, now, with a fresh set of attempts."""
    async with sessions.begin() as session:
        found = (
            await session.execute(
                select(deliveries.c.status, deliveries.c.last_error)
                .where(deliveries.c.id == delivery_id)
                .with_for_update()
            )
        ).first()
        if found is None:
            raise Problem(404, f"There is no delivery {delivery_id}.")
        status, why = found
        if status in ("pending", "retrying"):
            raise Problem(409, f"Delivery {delivery_id} is already queued ({status}).")
        if status == "cancelled":  # its subscription deleted, or its page no longer needed
            raise Problem(
                409, f"Delivery {delivery_id} was cancelled ({why}); it is not sent again."
            )
        await session.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(status="pending", attempts=0, next_attempt_at=datetime.now(UTC))
        )
    log.info("delivery_requeued", delivery_id=str(delivery_id), actor=actor)
