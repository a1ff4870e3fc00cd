"""router's main use case: a received escalation becomes a scored, assigned case (or joins one)."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast
from uuid import UUID, uuid4

from sqlalchemy import Table, Uuid, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.assignment import Routing, route_escalation
from services.router.case_actions import resolve_at_source
from services.router.case_events import record_change
from services.router.correlation import LatestCase, joins_case, velocity_per_hour
from services.router.decisions import set_decision, tighten_deadlines
from services.router.models import Case, CaseReport, ProcessedEvent
from services.router.policy import Policy
from services.router.poll import Poll, RecentReports, Report, read_report
from services.router.scoring import (
    Decision,
    ScoringContext,
    build_context,
    decision_from_explanation,
    raise_one_band,
    score_escalation,
)
from services.router.sla import sla_deadlines
from services.router.surges import check_key_surge, check_region_surge
from services.router.teams import Rotations, pick_assignee
from shared.events import CaseStatus, EscalationResolved, EventType, Topics
from shared.kafka import Envelope
from shared.logging import get_logger
from shared.tracing import span

log = get_logger(__name__)


async def handle_events(
    sessions: async_sessionmaker[AsyncSession],
    topics: Topics,
    policy: Policy,
    rotations: Rotations,
    envelopes: Sequence[Envelope],
    now: datetime,
) -> list[UUID]:
    """Handle consumed events in one transaction, all or nothing, in their order, each event id
    once: a redelivery (handled before, or twice in the same poll) changes nothing. A report is
    decided as of its receipt, but a new case goes to whoever is on call `now`, when it opens:
    after a backlog or a replay, not to whoever was when the report came in.

    Returns the ids of the cases they changed (none when every event was a redelivery).
    """
    reports = [None if _is_resolution(e) else read_report(e) for e in envelopes]
    changed: list[UUID] = []
    async with sessions.begin() as session:
        first_time = await _first_time(session, envelopes)
        todo = []
        for envelope, report in zip(envelopes, reports, strict=True):
            if envelope.id in first_time:
                first_time.remove(envelope.id)
                todo.append((envelope, report))
            else:
                log.info("event_already_handled", event_id=str(envelope.id))
        poll = await Poll.load(session, policy, [report for _, report in todo if report])
        for envelope, report in todo:
            # In the event's own trace: the events it causes continue that trace, not the
            # poll's (a poll's span only links the traces of its events).
            with span(f"handle {envelope.event_type}", envelope.traceparent):
                if report is None:
                    changed += await _handle_source_resolution(session, topics, envelope)
                else:
                    case = await _handle_escalation(session, topics, rotations, poll, report, now)
                    changed.append(case)
    return changed


def _is_resolution(envelope: Envelope) -> bool:
    return envelope.event_type == EventType.ESCALATION_RESOLVED


# The poll's event ids as one array: one statement, built once, for any poll size. On the table,
# not the mapped class: the ORM would take the array for a row's values.
PROCESSED_EVENTS = cast(Table, ProcessedEvent.__table__)
RECORD_EVENTS = (
    insert(PROCESSED_EVENTS)
    .from_select(["event_id"], select(func.unnest(bindparam("ids", type_=ARRAY(Uuid)))))
    .on_conflict_do_nothing()
    .returning(PROCESSED_EVENTS.c.event_id)
)


async def _first_time(session: AsyncSession, envelopes: Sequence[Envelope]) -> set[UUID]:
    """Record the event ids; those recorded now are the ones never handled before."""
    ids = list(dict.fromkeys(envelope.id for envelope in envelopes))
    return set(await session.scalars(RECORD_EVENTS, {"ids": ids}))


async def _handle_escalation(
    session: AsyncSession,
    topics: Topics,
    rotations: Rotations,
    poll: Poll,
    report: Report,
    now: datetime,
) -> UUID:
    """Open a case for a report or join it to its key's open case; returns the case id."""
    policy, recent = poll.policy, poll.recent(report)
    case = await _correlate_and_decide(session, topics, rotations, poll, report, recent, now)
    # Both surge counts include this report.
    await check_key_surge(session, topics, policy, case, report.at, recent.on_key + 1)
    in_region = recent.in_region + 1
    await check_region_surge(
        session, topics, policy, report.facts, report.at, in_region, poll.risk_windows
    )
    return case.id


async def _handle_source_resolution(
    session: AsyncSession, topics: Topics, envelope: Envelope
) -> list[UUID]:
    """The partner's tool resolved its alert: resolve the cases of those reports."""
    resolved = envelope.body(EscalationResolved)
    return await resolve_at_source(
        session, topics, resolved.escalation_ids, resolved.partner, resolved.resolved_at
    )


async def _correlate_and_decide(
    session: AsyncSession,
    topics: Topics,
    rotations: Rotations,
    poll: Poll,
    report: Report,
    recent: RecentReports,
    now: datetime,
) -> Case:
    """The case the report opened or joined."""
    policy, latest = poll.policy, poll.latest(report.key)
    velocity = velocity_per_hour(recent.for_velocity + 1, policy.velocity_window_minutes)
    context = build_context(report.facts, policy, report.at, velocity)
    decision = score_escalation(report.facts, context, policy)
    routing = route_escalation(report.facts, context, policy)
    state = _latest_state(latest)
    window = timedelta(hours=policy.correlation_window_hours)
    if latest is not None and joins_case(state, report.at, window):
        latest.velocity_per_hour = velocity
        await _join_case(session, topics, policy, latest, report, decision, routing)
        case = latest
    else:
        case = _new_case(report, latest, velocity)
        opened_at = max(report.at, now)  # a clock behind intake's does not go back in time
        case.assignee = await pick_assignee(session, routing.team, opened_at, rotations)
        await _open_case(session, topics, policy, case, report, decision, routing)
    _add_report(session, case, report, decision, context)
    poll.handled(report, case)
    return case


def _latest_state(case: Case | None) -> LatestCase | None:
    if case is None:
        return None
    return LatestCase(case.id, CaseStatus(case.status), case.last_seen_at or case.created_at)


async def _open_case(
    session: AsyncSession,
    topics: Topics,
    policy: Policy,
    case: Case,
    report: Report,
    decision: Decision,
    routing: Routing,
) -> None:
    at = report.at
    case.team, case.watchers = routing.team, list(routing.watchers)
    set_decision(case, decision, decision, routing)
    deadlines = sla_deadlines(decision.severity, at, case.legal_deadline, policy)
    case.ack_due_at, case.resolve_due_at = deadlines.acknowledge_due, deadlines.resolve_due
    session.add(case)
    await _record_report(session, topics, case, report, EventType.CASE_CREATED)
    log.info(
        "case_created",
        case_id=str(case.id),
        escalation_id=str(case.escalation_id),
        severity=case.severity,
        team=case.team,
        assignee=case.assignee,
    )


def _new_case(report: Report, previous: Case | None, velocity: float) -> Case:
    facts, at = report.facts, report.at
    return Case(
        id=uuid4(),
        escalation_id=report.received.escalation_id,
        correlation_key=report.key,
        status=CaseStatus.OPEN.value,
        category=facts.category.value,
        product=facts.product.value,
        title=facts.title,
        created_at=at,
        region=facts.region,
        report_count=1,
        velocity_per_hour=velocity,
        surge=False,
        first_seen_at=at,
        last_seen_at=at,
        sensitive=facts.sensitive,
        legal_deadline=facts.signals.legal_deadline,
        previous_case_id=previous.id if previous is not None else None,
    )


async def _join_case(
    session: AsyncSession,
    topics: Topics,
    policy: Policy,
    case: Case,
    report: Report,
    decision: Decision,
    routing: Routing,
) -> None:
    at, deadline = report.at, report.facts.signals.legal_deadline
    case.report_count += 1
    case.last_seen_at = max(case.last_seen_at or at, at)
    case.sensitive = case.sensitive or report.facts.sensitive
    watchers = [*case.watchers, *routing.watchers]
    case.watchers = list(dict.fromkeys(team for team in watchers if team != case.team))
    if deadline is not None:
        case.legal_deadline = min(case.legal_deadline or deadline, deadline)
    # Cases opened before scoring existed have no stored decision: the new one sets it.
    stored = (case.explanation or {}).get("base")
    if stored is None or decision.score > decision_from_explanation(stored).score:
        effective = raise_one_band(decision, policy) if case.surge else decision
        set_decision(case, decision, effective, routing)
    tighten_deadlines(case, policy, at)
    await _record_report(session, topics, case, report, EventType.CASE_UPDATED)
    log.info(
        "report_joined_case",
        case_id=str(case.id),
        escalation_id=str(report.received.escalation_id),
        report_count=case.report_count,
    )


async def _record_report(
    session: AsyncSession, topics: Topics, case: Case, report: Report, event_type: EventType
) -> None:
    """The case change a report caused: on the timeline and, with the report's ids, on the wire."""
    await record_change(
        session,
        topics,
        case,
        event_type,
        actor="router",
        at=report.at,
        detail=_decided(case, report),
        escalation_id=report.received.escalation_id,
        received_at=report.received.received_at,
        traceparent=report.envelope.traceparent,
    )


def _add_report(
    session: AsyncSession, case: Case, report: Report, decision: Decision, context: ScoringContext
) -> None:
    session.add(
        CaseReport(
            escalation_id=report.received.escalation_id,
            case_id=case.id,
            correlation_key=report.key,
            received_at=report.at,
            category=report.facts.category.value,
            region=report.facts.region,
            score=decision.score,
            severity=decision.severity.value,
            evidence=[item.model_dump() for item in report.facts.evidence],
            explanation={
                **decision.explanation(),
                "context": {
                    "velocity_per_hour": context.velocity_per_hour,
                    "active_windows": sorted(context.active_windows),
                    "keyword_hits": sorted(context.keyword_hits),
                },
            },
        )
    )


def _decided(case: Case, report: Report) -> dict[str, object]:
    return {
        "escalation_id": str(report.received.escalation_id),
        "report_count": case.report_count,
        "score": case.score,
        "severity": case.severity,
        "team": case.team,
        "assignee": case.assignee,
        "policy_version": case.policy_version,
    }
