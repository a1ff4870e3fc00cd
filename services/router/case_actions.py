"""Responders' use cases on cases: list and read them, acknowledge, resolve, reassign, annotate."""

import base64
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import Select, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.case_events import record_change, snapshot
from services.router.errors import (
    CaseAlreadyResolved,
    CaseNotFound,
    IllegalTransition,
    NobodyOnCall,
)
from services.router.models import Case, CaseReport, TimelineEntry
from services.router.schemas import (
    CaseDetail,
    CasePage,
    EvidenceItem,
    ReassignIn,
    ReportItem,
    ResolutionCode,
    ResolveIn,
    TimelineItem,
)
from services.router.teams import (
    Rotations,
    find_team,
    pick_assignee,
    require_responders,
    require_team,
)
from shared.events import CaseStatus, EventType, Moment, Topics
from shared.http import Problem
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class CaseFilter:
    status: CaseStatus | None = None
    severity: str | None = None
    team: str | None = None
    category: str | None = None
    region: str | None = None
    since: datetime | None = None


def _encode_cursor(case: Case) -> str:
    return base64.urlsafe_b64encode(f"{case.created_at.isoformat()}|{case.id}".encode()).decode()


_CURSOR_TIME: TypeAdapter[datetime] = TypeAdapter(Moment)


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created, _, case_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return _CURSOR_TIME.validate_python(created), UUID(case_id)
    except ValueError as error:
        raise Problem(400, "The cursor is not one this API gave out.") from error


def _filtered(query: Select[Case], where: CaseFilter) -> Select[Case]:
    """Every filter but the team's, which needs a lookup (list_cases)."""
    for column, value in (
        (Case.status, where.status.value if where.status else None),
        (Case.severity, where.severity),
        (Case.category, where.category),
        (Case.region, where.region),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(Case.created_at >= where.since)
    return query


async def list_cases(
    session: AsyncSession, where: CaseFilter, limit: int, cursor: str | None
) -> CasePage:
    """Newest first; the cursor is the last case of the previous page. A team is named by its
    name or its slug (as /v1/oncall and /v1/teams give it); a name no team has now still finds
    the cases that carry it (a team renamed since, or one only a policy names)."""
    query = _filtered(select(Case), where).order_by(Case.created_at.desc(), Case.id.desc())
    if where.team is not None:
        found = await find_team(session, where.team)
        query = query.where(Case.team.in_({where.team, found.name if found else where.team}))
    if cursor:
        created, case_id = _decode_cursor(cursor)
        query = query.where(tuple_(Case.created_at, Case.id) < tuple_(created, case_id))
    cases = list((await session.scalars(query.limit(limit + 1))).all())
    more = len(cases) > limit
    page = cases[:limit]
    return CasePage(
        items=[snapshot(case) for case in page],
        next_cursor=_encode_cursor(page[-1]) if more else None,
    )


async def case_detail(session: AsyncSession, case_id: UUID) -> CaseDetail:
    case = await session.get(Case, case_id)
    if case is None:
        raise CaseNotFound(case_id)
    entries = await session.scalars(
        select(TimelineEntry).where(TimelineEntry.case_id == case_id).order_by(TimelineEntry.id)
    )
    reports = await session.scalars(
        select(CaseReport).where(CaseReport.case_id == case_id).order_by(CaseReport.received_at)
    )
    return CaseDetail(
        case=snapshot(case),
        explanation=case.explanation or {},
        timeline=[
            TimelineItem(at=e.at, actor=e.actor, action=e.action, detail=e.detail) for e in entries
        ],
        reports=[
            ReportItem(
                escalation_id=r.escalation_id,
                received_at=r.received_at,
                score=r.score,
                severity=r.severity,
            )
            for r in reports
        ],
    )


async def case_evidence(
    session: AsyncSession, case_id: UUID, viewer: str, now: datetime
) -> list[EvidenceItem]:
    """Every report's evidence links, oldest report first. Who opened a sensitive case's
    evidence, and when, goes on its timeline (no case event: nothing about the case changed)."""
    case = await session.get(Case, case_id)
    if case is None:
        raise CaseNotFound(case_id)
    if case.sensitive:
        session.add(TimelineEntry(case_id=case_id, at=now, actor=viewer, action="evidence_viewed"))
    reports = await session.scalars(
        select(CaseReport).where(CaseReport.case_id == case_id).order_by(CaseReport.received_at)
    )
    return [
        EvidenceItem(escalation_id=report.escalation_id, **item)
        for report in reports
        for item in report.evidence
    ]


async def _locked(session: AsyncSession, case_id: UUID, action: str) -> Case:
    """The case, locked for this change; a resolved case takes no change but notes."""
    case = await session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise CaseNotFound(case_id)
    if case.status == CaseStatus.RESOLVED and action != "annotated":
        raise CaseAlreadyResolved(case_id, action)
    return case


async def acknowledge(
    session: AsyncSession,
    topics: Topics,
    case_id: UUID,
    actor: str,
    note: str | None,
    now: datetime,
) -> Case:
    case = await _locked(session, case_id, "acknowledged")
    if case.status == CaseStatus.ACKNOWLEDGED:
        raise IllegalTransition(case_id, case.status, "acknowledged again")
    _breaches_by(case, now, resolving=False)
    case.status, case.acknowledged_at = CaseStatus.ACKNOWLEDGED.value, now
    case.assignee = case.assignee or actor
    await record_change(
        session,
        topics,
        case,
        EventType.CASE_ACKNOWLEDGED,
        actor=actor,
        at=now,
        detail={"text": note} if note else {},
    )
    log.info("case_acknowledged", case_id=str(case_id), actor=actor)
    return case


def _breaches_by(case: Case, now: datetime, resolving: bool) -> None:
    """Record the targets the action meets late as breached (acknowledging stops the acknowledge
    clock, resolving both), whether the periodic check has seen them yet or not: the SLA report
    counts these flags, and the check runs only every few seconds."""
    if case.status == CaseStatus.OPEN and case.ack_due_at is not None and now > case.ack_due_at:
        case.ack_breached = True
    if resolving and case.resolve_due_at is not None and now > case.resolve_due_at:
        case.resolve_breached = True


async def resolve(
    session: AsyncSession,
    topics: Topics,
    case_id: UUID,
    actor: str,
    body: ResolveIn,
    now: datetime,
) -> Case:
    case = await _locked(session, case_id, "resolved")
    _breaches_by(case, now, resolving=True)
    case.status, case.resolved_at = CaseStatus.RESOLVED.value, now
    case.resolution_code = body.code.value
    await record_change(
        session,
        topics,
        case,
        EventType.CASE_RESOLVED,
        actor=actor,
        at=now,
        detail={"code": body.code.value, "text": body.summary},
    )
    log.info("case_resolved", case_id=str(case_id), actor=actor, code=body.code.value)
    return case


async def resolve_at_source(
    session: AsyncSession,
    topics: Topics,
    escalation_ids: list[UUID],
    partner: str,
    now: datetime,
) -> list[UUID]:
    """Record that these reports were resolved at their source, and resolve each open case
    whose reports all are: reports of other partners or alerts keep a case open (one tool's
    resolution is noted on its timeline) until their own sources resolve them too, and a
    report made by a person, never. Returns the ids resolved."""
    case_ids = (
        await session.scalars(
            update(CaseReport)
            .where(
                CaseReport.escalation_id.in_(escalation_ids),
                CaseReport.resolved_at_source.is_(None),
            )
            .values(resolved_at_source=now)
            .returning(CaseReport.case_id)
        )
    ).all()
    resolved = []
    for case_id in sorted(set(case_ids)):
        case = await session.get(Case, case_id, with_for_update=True)
        if case is None or case.status == CaseStatus.RESOLVED:
            continue
        still_open = await session.scalar(
            select(func.count()).where(
                CaseReport.case_id == case_id, CaseReport.resolved_at_source.is_(None)
            )
        )
        if still_open:
            note = f"{partner} resolved its alert; {still_open} other report(s) keep the case open."
            await record_change(
                session,
                topics,
                case,
                EventType.CASE_NOTE_ADDED,
                actor=f"source:{partner}",
                at=now,
                detail={"text": note},
            )
            continue
        body = ResolveIn(
            code=ResolutionCode.RESOLVED_AT_SOURCE,
            summary=f"{partner} resolved the alert behind this case.",
        )
        await resolve(session, topics, case_id, f"source:{partner}", body, now)
        resolved.append(case_id)
    return resolved


async def reassign(
    session: AsyncSession,
    topics: Topics,
    case_id: UUID,
    actor: str,
    body: ReassignIn,
    now: datetime,
    rotations: Rotations,
) -> Case:
    case = await _locked(session, case_id, "reassigned")
    before = {"team": case.team, "assignee": case.assignee}
    if body.team is not None:
        team = (await require_team(session, body.team)).name
        # The team the case leaves keeps watching it (Legal, say, for a legal deadline).
        watchers = [*case.watchers, case.team]
        case.watchers = list(dict.fromkeys(w for w in watchers if w is not None and w != team))
        case.team = team
    if body.responder is not None:
        await require_responders(session, [body.responder])
        case.assignee = body.responder
    elif case.team is not None:
        assignee = await pick_assignee(session, case.team, now, rotations)
        if assignee is None:
            raise NobodyOnCall(case.team)
        case.assignee = assignee
    after = {"team": case.team, "assignee": case.assignee}
    await record_change(
        session,
        topics,
        case,
        EventType.CASE_REASSIGNED,
        actor=actor,
        at=now,
        detail={"from": before, "to": after, "reason": body.reason},
    )
    log.info(
        "case_reassigned", case_id=str(case_id), actor=actor, team=case.team, assignee=case.assignee
    )
    return case


async def add_note(
    session: AsyncSession, topics: Topics, case_id: UUID, actor: str, text: str, now: datetime
) -> Case:
    case = await _locked(session, case_id, "annotated")
    await record_change(
        session, topics, case, EventType.CASE_NOTE_ADDED, actor=actor, at=now, detail={"text": text}
    )
    return case
