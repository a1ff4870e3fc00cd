"""A poll's reports and what deciding them needs from the database, read in two statements for
the whole poll (three during a surge), then kept current in memory as the reports are handled
in order: each report sees the ones before it in the poll exactly as if they had been stored
one at a time (ADR 0012)."""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import (
    ColumnElement,
    Integer,
    ScalarSelect,
    Select,
    Text,
    bindparam,
    column,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from services.router.facts import EscalationFacts
from services.router.models import TIMESTAMP, Case, CaseReport
from services.router.policy import Policy
from services.router.surges import RiskWindow, recorded_windows, risk_window
from shared.events import EscalationReceived, EventType
from shared.kafka import Envelope, InvalidEvent


@dataclass(frozen=True)
class Report:
    """One received escalation as the router sees it."""

    envelope: Envelope
    received: EscalationReceived
    facts: EscalationFacts

    @property
    def at(self) -> datetime:
        return self.received.received_at

    @property
    def key(self) -> str:
        return self.received.correlation_key

    @property
    def region_category(self) -> tuple[str, str] | None:
        """Where a region surge would be counted; None without a region (no region surges)."""
        region = self.facts.region
        return None if region is None else (region, self.facts.category.value)


@dataclass(frozen=True)
class RecentReports:
    """Reports stored before this one: on its key within the velocity and the surge windows,
    and in its region and category within the surge window (counted up to the threshold)."""

    for_velocity: int
    on_key: int
    in_region: int


def read_report(envelope: Envelope) -> Report:
    if envelope.event_type != EventType.ESCALATION_RECEIVED:
        raise InvalidEvent(f"router cannot handle events of type {envelope.event_type!r}")
    received = envelope.body(EscalationReceived)
    try:
        facts = EscalationFacts.model_validate(envelope.data["escalation"])
    except ValidationError as error:
        raise InvalidEvent(f"escalation facts are not valid: {error}") from error
    return Report(envelope, received, facts)


@dataclass
class Poll:
    """The newest case of each key, each report's counts of the reports stored before the
    poll, and the emerging-risk windows already recorded that a report of the poll could reach;
    then, as reports are handled, the cases they opened, the reports, and the windows they
    recorded."""

    policy: Policy
    _latest: dict[str, Case | None]
    _stored: dict[UUID, RecentReports]
    risk_windows: set[RiskWindow]
    _on_key: defaultdict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    _in_region: defaultdict[tuple[str, str], list[datetime]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @classmethod
    async def load(cls, session: AsyncSession, policy: Policy, reports: Sequence[Report]) -> "Poll":
        """Locks the newest case of every key in the poll, as one report at a time would."""
        if not reports:
            return cls(policy, {}, {}, set())
        latest = await _newest_cases(session, {report.key for report in reports})
        stored = await _stored_counts(session, policy, reports)
        return cls(policy, latest, stored, await _risk_windows(session, policy, reports, stored))

    def latest(self, key: str) -> Case | None:
        return self._latest.get(key)

    def recent(self, report: Report) -> RecentReports:
        """The counts from before the poll, plus the reports handled so far in it."""
        stored, policy, at = self._stored[report.received.escalation_id], self.policy, report.at

        def since(times: list[datetime], minutes: int) -> int:
            start = at - timedelta(minutes=minutes)
            return sum(1 for time in times if time > start)

        on_key = self._on_key[report.key]
        place = report.region_category
        in_region = stored.in_region
        if place is not None:
            in_region += since(self._in_region[place], policy.surge.region_category_window_minutes)
        return RecentReports(
            for_velocity=stored.for_velocity + since(on_key, policy.velocity_window_minutes),
            on_key=stored.on_key + since(on_key, policy.surge.key_window_minutes),
            in_region=min(in_region, policy.surge.region_category_reports),
        )

    def handled(self, report: Report, case: Case) -> None:
        """The report is stored on `case`: later reports count it and see the case."""
        self._on_key[report.key].append(report.at)
        if report.region_category is not None:
            self._in_region[report.region_category].append(report.at)
        newest = self._latest.get(report.key)
        if newest is None or case.created_at >= newest.created_at:
            self._latest[report.key] = case


def _newest_cases_statement() -> Select[Case]:
    newest = (
        select(Case.id)
        .where(Case.correlation_key.in_(bindparam("keys", expanding=True)))
        .ext(distinct_on(Case.correlation_key))
        .order_by(Case.correlation_key, Case.created_at.desc())
    )
    # Locked in id order, so two pollers (a rebalance) cannot lock them in opposite orders.
    return select(Case).where(Case.id.in_(newest)).order_by(Case.id).with_for_update()


# The statements every poll runs are built once, their values bound at each execution: building
# one and deriving its cache key costs more CPU than a one-report poll's round trip.
NEWEST_CASES = _newest_cases_statement()


async def _newest_cases(session: AsyncSession, keys: set[str]) -> dict[str, Case | None]:
    cases = await session.scalars(NEWEST_CASES, {"keys": list(keys)})
    found: dict[str, Case | None] = dict.fromkeys(keys)
    found.update((case.correlation_key, case) for case in cases)
    return found


async def _risk_windows(
    session: AsyncSession,
    policy: Policy,
    reports: Sequence[Report],
    stored: dict[UUID, RecentReports],
) -> set[RiskWindow]:
    """The recorded windows among those a report of the poll could surge in: its count before
    the poll, plus every report of the poll in its region and category, reaches the threshold.
    Without a surge under way, none: no statement."""
    in_poll = Counter(report.region_category for report in reports)
    threshold = policy.surge.region_category_reports
    reachable = {
        window
        for report in reports
        if (window := risk_window(policy, report.facts, report.at)) is not None
        and stored[report.received.escalation_id].in_region + in_poll[report.region_category]
        >= threshold
    }
    return await recorded_windows(session, reachable)


# The reports of a poll as rows: one array per column, unnested, so the counts statement's text
# is the same for any poll size (compiled and prepared once).
POLL_COLUMNS: dict[str, TypeEngine[Any]] = {
    "escalation_id": CaseReport.escalation_id.type,
    "key": Text(),
    "velocity_since": TIMESTAMP,
    "key_since": TIMESTAMP,
    "region": Text(),
    "category": Text(),
    "region_since": TIMESTAMP,
}


def _counts_statement() -> Select[UUID, int, int, int]:
    """Each report of the poll with the start of its windows, and three correlated counts."""
    poll = (
        func.unnest(*(bindparam(name, type_=ARRAY(kind)) for name, kind in POLL_COLUMNS.items()))
        .table_valued(*(column(name, kind) for name, kind in POLL_COLUMNS.items()))
        .render_derived(name="poll")
    )

    def on_key(since: ColumnElement[datetime]) -> ScalarSelect[int]:
        return (
            select(func.count())
            .where(CaseReport.correlation_key == poll.c.key, CaseReport.received_at > since)
            .scalar_subquery()
        )

    in_region = (
        select(CaseReport.escalation_id)
        .where(
            CaseReport.region == poll.c.region,
            CaseReport.category == poll.c.category,
            CaseReport.received_at > poll.c.region_since,
        )
        .limit(bindparam("region_limit", type_=Integer))
        .correlate(poll)
        .subquery()
    )
    return select(
        poll.c.escalation_id,
        on_key(poll.c.velocity_since),
        on_key(poll.c.key_since),
        select(func.count()).select_from(in_region).scalar_subquery(),
    )


COUNTS = _counts_statement()


async def _stored_counts(
    session: AsyncSession, policy: Policy, reports: Sequence[Report]
) -> dict[UUID, RecentReports]:
    """Each report's counts of the reports stored before the poll, in one statement (COUNTS);
    those in its region and category only up to the surge threshold."""
    surge = policy.surge

    def starts(minutes: int) -> list[datetime]:
        return [report.at - timedelta(minutes=minutes) for report in reports]

    values = {
        "escalation_id": [report.received.escalation_id for report in reports],
        "key": [report.key for report in reports],
        "velocity_since": starts(policy.velocity_window_minutes),
        "key_since": starts(surge.key_window_minutes),
        "region": [report.facts.region for report in reports],
        "category": [report.facts.category.value for report in reports],
        "region_since": starts(surge.region_category_window_minutes),
    }
    rows = await session.execute(COUNTS, {**values, "region_limit": surge.region_category_reports})
    return {row[0]: RecentReports(*row[1:]) for row in rows}
