"""The periodic SLA check: warns before each target is missed and reports the breach, once each
(a deadline moved earlier is warned of again); then the rules a legal deadline drawing near
brings (router/deadline_rules.py)."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from services.router.case_events import record_change
from services.router.deadline_rules import apply_deadline_rules
from services.router.models import Case
from services.router.policy import Policy
from services.router.sla import SlaAlert, SlaClock, due_alert, running_clocks
from shared.events import CaseStatus, EventType, Topics
from shared.lifecycle import Worker, pause
from shared.logging import get_logger

log = get_logger(__name__)
BATCH = 500
# The cases with a clock still running: unresolved, with an acknowledge clock (open cases only)
# or a resolve clock not yet breached. The partial index `cases_sla_pending` (migration 0006)
# holds just these, so a check reads them and not every case ever stored. SQL literals, not
# bound values, so that PostgreSQL can prove a plan's use of the index from the text alone.
CLOCKS_RUNNING = and_(
    Case.status != literal_column("'resolved'"),
    or_(
        and_(
            Case.status == literal_column("'open'"),
            Case.ack_breached.is_(False),
            Case.ack_due_at.is_not(None),
        ),
        and_(Case.resolve_breached.is_(False), Case.resolve_due_at.is_not(None)),
    ),
)


def _clocks(case: Case) -> list[SlaClock]:
    clocks = []
    if case.ack_due_at is not None:
        clocks.append(
            SlaClock(
                "acknowledge", case.created_at, case.ack_due_at, case.ack_warned, case.ack_breached
            )
        )
    if case.resolve_due_at is not None:
        clocks.append(
            SlaClock(
                "resolve",
                case.created_at,
                case.resolve_due_at,
                case.resolve_warned,
                case.resolve_breached,
            )
        )
    return running_clocks(CaseStatus(case.status), clocks)


def _mark(case: Case, alert: SlaAlert) -> None:
    # A breach also counts as warned: a late first look never sends a warning after the fact.
    if alert.target == "acknowledge":
        case.ack_warned = True
        case.ack_breached = case.ack_breached or alert.kind == "breached"
    else:
        case.resolve_warned = True
        case.resolve_breached = case.resolve_breached or alert.kind == "breached"


def _candidates(now: datetime, fraction: float) -> list[ColumnElement[bool]]:
    def warn_time_passed(due: InstrumentedAttribute[datetime | None]) -> ColumnElement[bool]:
        # created + (due - created) * fraction <= now, in epoch seconds.
        started = func.extract("epoch", Case.created_at)
        return func.extract("epoch", due) * fraction + started * (1 - fraction) <= now.timestamp()

    def alert_due(
        warned: InstrumentedAttribute[bool],
        breached: InstrumentedAttribute[bool],
        due: InstrumentedAttribute[datetime | None],
    ) -> ColumnElement[bool]:
        # Only cases with an alert still to send: warned cases waiting for their breach must
        # not fill the batch and starve newer cases of their warnings.
        return or_(
            and_(warned.is_(False), warn_time_passed(due)),
            and_(breached.is_(False), due <= now),
        )

    return [
        and_(
            Case.status == CaseStatus.OPEN.value,
            alert_due(Case.ack_warned, Case.ack_breached, Case.ack_due_at),
        ),
        alert_due(Case.resolve_warned, Case.resolve_breached, Case.resolve_due_at),
    ]


def due_cases(now: datetime, fraction: float, batch: int) -> Select[Case]:
    """The oldest `batch` cases with an SLA alert to send at `now`, locked, skipping those
    another replica holds."""
    return (
        select(Case)
        .where(CLOCKS_RUNNING, or_(*_candidates(now, fraction)))
        .order_by(Case.created_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )


async def check_sla(
    sessions: async_sessionmaker[AsyncSession],
    topics: Topics,
    policy: Policy,
    now: datetime,
    batch: int = BATCH,
) -> int:
    """Publish the SLA alerts due at `now`, then apply the rules a legal deadline drawing near
    brings (router/deadline_rules.py), in a transaction of its own: a fault there holds no
    alert back. Returns how many events. Replicas share the work safely: each locks the cases
    it checks and skips those another replica holds."""
    fraction = policy.sla.warning_at_fraction
    sent = 0
    async with sessions.begin() as session:
        cases = await session.scalars(due_cases(now, fraction, batch))
        for case in cases.all():
            for clock in _clocks(case):
                alert = due_alert(clock, now, fraction)
                if alert is not None:
                    await _publish(session, topics, case, alert, now)
                    sent += 1
    async with sessions.begin() as session:
        sent += await apply_deadline_rules(session, topics, policy, now, batch)
    return sent


async def _publish(
    session: AsyncSession, topics: Topics, case: Case, alert: SlaAlert, now: datetime
) -> None:
    _mark(case, alert)
    event = EventType.CASE_SLA_BREACHED if alert.kind == "breached" else EventType.CASE_SLA_WARNING
    detail = {
        "target": alert.target,
        "due_at": alert.due_at.isoformat(),
        "reason": f"{alert.target} due at {alert.due_at.isoformat()}",
    }
    await record_change(
        session,
        topics,
        case,
        event,
        actor="router",
        at=now,
        detail=detail,
        sla_target=alert.target,
        due_at=alert.due_at,
    )
    log.info("sla_" + alert.kind, case_id=str(case.id), target=alert.target)


def sla_worker(
    sessions: async_sessionmaker[AsyncSession],
    topics: Topics,
    current_policy: Callable[[], Policy],
    interval_s: float,
    on_sent: Callable[[], None],
) -> Worker:
    async def run(stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await pause(stopping, interval_s)
            if stopping.is_set():
                return
            if await check_sla(sessions, topics, current_policy(), datetime.now(UTC)):
                on_sent()

    return run
