"""router's HTTP routes: cases, teams and on-call, reports. Parse, call the service, shape."""

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router import case_actions, reports, teams
from services.router.case_actions import CaseFilter
from services.router.case_events import snapshot
from services.router.models import Case
from services.router.schemas import (
    AcknowledgeIn,
    CaseDetail,
    CasePage,
    EvidenceItem,
    NoteIn,
    OnCallOut,
    ReassignIn,
    ResolveIn,
    TeamOut,
    Text,
)
from shared.auth import AUTH_ERRORS, AnyResponder, Responder, Role, require_role
from shared.events import CaseSnapshot, CaseStatus, Category, Moment, Severity, Topics
from shared.http import PROBLEM

NO_CASE: dict[int | str, dict[str, Any]] = {404: {"description": "No such case.", **PROBLEM}}
CASE_CHANGE: dict[int | str, dict[str, Any]] = {
    **NO_CASE,
    409: {"description": "The case's status does not allow it (`status_now`).", **PROBLEM},
}
Actor = Annotated[Responder, Depends(require_role(Role.RESPONDER, Role.LEAD, Role.ADMIN))]
Lead = Annotated[Responder, Depends(require_role(Role.LEAD, Role.ADMIN))]
Analyst = Annotated[Responder, Depends(require_role(Role.ANALYST, Role.LEAD, Role.ADMIN))]
# Reports answer JSON, or CSV when asked with `Accept: text/csv`.
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
Change = Callable[[AsyncSession, datetime], Awaitable[Case]]


def build_router(
    sessions: async_sessionmaker[AsyncSession],
    topics: Topics,
    changed: Callable[[], None],
    rotations: teams.Rotations,
) -> APIRouter:
    router = APIRouter(prefix="/v1", responses=AUTH_ERRORS)
    router.include_router(_case_routes(sessions, topics, changed, rotations))
    router.include_router(_team_routes(sessions))
    router.include_router(_report_routes(sessions))
    return router


def _case_routes(
    sessions: async_sessionmaker[AsyncSession],
    topics: Topics,
    changed: Callable[[], None],
    rotations: teams.Rotations,
) -> APIRouter:
    router = APIRouter(tags=["cases"])

    async def apply(change: Change) -> CaseSnapshot:
        async with sessions.begin() as session:
            case = await change(session, datetime.now(UTC))
            result = snapshot(case)
        changed()
        return result

    @router.get("/cases")
    async def list_cases(
        _: AnyResponder,
        status: CaseStatus | None = None,
        severity: Severity | None = None,
        team: Annotated[Text | None, Query(max_length=100)] = None,
        category: Category | None = None,
        region: Annotated[str | None, Query(pattern="^[A-Z]{2}$")] = None,
        since: Moment | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> CasePage:
        where = CaseFilter(
            status,
            severity.value if severity else None,
            team,
            category.value if category else None,
            region,
            since,
        )
        async with sessions() as session:
            return await case_actions.list_cases(session, where, limit, cursor)

    @router.get("/cases/{case_id}", responses=NO_CASE)
    async def get_case(case_id: UUID, _: AnyResponder) -> CaseDetail:
        async with sessions() as session:
            return await case_actions.case_detail(session, case_id)

    # Apart from the case: the console fetches evidence only after its content warning.
    @router.get("/cases/{case_id}/evidence", responses=NO_CASE)
    async def get_evidence(case_id: UUID, who: AnyResponder) -> list[EvidenceItem]:
        async with sessions.begin() as session:
            return await case_actions.case_evidence(
                session, case_id, who.subject, datetime.now(UTC)
            )

    @router.post("/cases/{case_id}/acknowledge", responses=CASE_CHANGE)
    async def acknowledge(
        case_id: UUID, who: Actor, body: AcknowledgeIn | None = None
    ) -> CaseSnapshot:
        note = body.note if body else None
        return await apply(
            lambda s, now: case_actions.acknowledge(s, topics, case_id, who.subject, note, now)
        )

    @router.post("/cases/{case_id}/resolve", responses=CASE_CHANGE)
    async def resolve(case_id: UUID, body: ResolveIn, who: Actor) -> CaseSnapshot:
        return await apply(
            lambda s, now: case_actions.resolve(s, topics, case_id, who.subject, body, now)
        )

    @router.post("/cases/{case_id}/reassign", responses=CASE_CHANGE)
    async def reassign(case_id: UUID, body: ReassignIn, who: Lead) -> CaseSnapshot:
        return await apply(
            lambda s, now: case_actions.reassign(
                s, topics, case_id, who.subject, body, now, rotations
            )
        )

    @router.post("/cases/{case_id}/notes", status_code=201, responses=CASE_CHANGE)
    async def add_note(case_id: UUID, body: NoteIn, who: Actor) -> CaseSnapshot:
        return await apply(
            lambda s, now: case_actions.add_note(s, topics, case_id, who.subject, body.text, now)
        )

    return router


def _team_routes(sessions: async_sessionmaker[AsyncSession]) -> APIRouter:
    router = APIRouter(tags=["teams"])

    @router.get("/teams")
    async def list_teams(_: AnyResponder) -> list[TeamOut]:
        async with sessions() as session:
            return [TeamOut(**vars(team)) for team in await teams.list_teams(session)]

    @router.get("/oncall")
    async def on_call(_: AnyResponder, at: Moment | None = None) -> list[OnCallOut]:
        moment = at or datetime.now(UTC)
        async with sessions() as session:
            return [
                OnCallOut(
                    team=team.slug,
                    name=team.name,
                    at=moment,
                    on_call=await teams.on_call(session, team.slug, moment),
                )
                for team in await teams.list_teams(session)
            ]

    return router


ReportStart = Annotated[
    date | None,
    Query(description=f"First day (UTC); by default {reports.DEFAULT_DAYS - 1} days before `end`."),
]
ReportEnd = Annotated[date | None, Query(description="Last day (UTC), included; by default today.")]


def _today() -> date:
    return datetime.now(UTC).date()


def _report_routes(sessions: async_sessionmaker[AsyncSession]) -> APIRouter:
    router = APIRouter(tags=["reports"])

    @router.get("/reports/trends", responses=CSV)
    async def trends(
        request: Request, _: Analyst, start: ReportStart = None, end: ReportEnd = None
    ) -> Response:
        async with sessions() as session:
            report = await reports.trends(session, reports.period(start, end, _today()))
        return reports.respond(request, report)

    @router.get("/reports/sla", responses=CSV)
    async def sla(
        request: Request, _: Analyst, start: ReportStart = None, end: ReportEnd = None
    ) -> Response:
        async with sessions() as session:
            report = await reports.sla(session, reports.period(start, end, _today()))
        return reports.respond(request, report)

    return router
