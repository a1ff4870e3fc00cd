"""Surges: many reports on one key raise its case a band and are an emerging risk on that
subject; many in one region and category are an emerging risk there, which raises no case
(ADR 0018). Both are decided on the reports stored in Postgres, once per case or window."""

from datetime import datetime, timedelta

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.case_events import SOURCE, record_change
from services.router.correlation import is_surge, window_start
from services.router.decisions import tighten_deadlines
from services.router.facts import EscalationFacts
from services.router.models import Case, CaseReport, EmergingRisk, outbox
from services.router.policy import Policy
from services.router.scoring import decision_from_explanation, raise_one_band
from shared.events import Category, EventType, Topics
from shared.events import EmergingRisk as EmergingRiskEvent
from shared.kafka import Envelope, OutgoingMessage
from shared.logging import get_logger
from shared.outbox import add_to_outbox

log = get_logger(__name__)
# A region, a category and the start of a fixed window.
RiskWindow = tuple[str, str, datetime]


async def check_key_surge(
    session: AsyncSession,
    topics: Topics,
    policy: Policy,
    case: Case,
    at: datetime,
    count: int,
) -> None:
    """The first surge on a case's key raises it one band and publishes flare.case.surge, and
    an emerging risk on its subject.

    `count` is the key's reports in the surge window up to `at`, the new one included.
    """
    if case.surge or case.status == "resolved":
        return
    window = policy.surge.key_window_minutes
    if not is_surge(count, policy.surge.key_reports):
        return
    explanation = dict(case.explanation or {})
    raised = raise_one_band(decision_from_explanation(explanation), policy)
    case.surge = True
    case.score, case.severity = raised.score, raised.severity.value
    case.explanation = {**explanation, **raised.explanation()}
    tighten_deadlines(case, policy, at)
    detail = {"reports": count, "window_minutes": window, "severity": case.severity}
    await record_change(
        session,
        topics,
        case,
        EventType.CASE_SURGE,
        actor="router",
        at=at,
        detail={**detail, "reason": f"{count} reports in {window} minutes"},
    )
    risk = EmergingRiskEvent(
        scope="subject",
        region=case.region,
        category=Category(case.category),
        case_id=case.id,
        sensitive=case.sensitive,
        report_count=count,
        window_start=at - timedelta(minutes=window),
        window_minutes=window,
        detected_at=at,
    )
    _publish_emerging_risk(session, topics, str(case.id), risk)
    log.info("case_surge", case_id=str(case.id), reports=count, severity=case.severity)


def risk_window(policy: Policy, facts: EscalationFacts, at: datetime) -> RiskWindow | None:
    """The window a report counts in for a region surge; None without a region."""
    if facts.region is None:
        return None
    start = window_start(at, policy.surge.region_category_window_minutes)
    return facts.region, facts.category.value, start


async def recorded_windows(session: AsyncSession, windows: set[RiskWindow]) -> set[RiskWindow]:
    """Those of the windows whose emerging risk is already recorded."""
    if not windows:
        return set()
    key = tuple_(EmergingRisk.region, EmergingRisk.category, EmergingRisk.window_start)
    rows = await session.execute(
        select(EmergingRisk.region, EmergingRisk.category, EmergingRisk.window_start).where(
            key.in_(windows)
        )
    )
    return {(region, category, start) for region, category, start in rows}


async def check_region_surge(
    session: AsyncSession,
    topics: Topics,
    policy: Policy,
    facts: EscalationFacts,
    at: datetime,
    count: int,
    recorded: set[RiskWindow],
) -> None:
    """A surge across one region and category is published once per fixed window.

    `count` is the reports in the region and category in the window, this one included,
    counted no further than the threshold (the caller's query stops there, so the question
    stays cheap however many reports a surge brings). `recorded` holds the windows the caller
    knows are recorded (a poll reads them once, router/poll.py); this adds the one it records.
    Past the threshold, a window not in it is counted in full and recorded, once: a copy
    recorded meanwhile by another replica wins, and this one publishes nothing.
    """
    if not is_surge(count, policy.surge.region_category_reports):
        return
    window = risk_window(policy, facts, at)
    if window is None or window in recorded:
        return
    recorded.add(window)
    start = window[2]
    since = at - timedelta(minutes=policy.surge.region_category_window_minutes)
    count = await _region_reports(session, facts, since)
    inserted = await session.scalar(
        insert(EmergingRisk)
        .values(
            region=facts.region,
            category=facts.category.value,
            window_start=start,
            report_count=count,
            detected_at=at,
        )
        .on_conflict_do_nothing()
        .returning(EmergingRisk.region)
    )
    if inserted is not None:
        risk = EmergingRiskEvent(
            region=facts.region,
            category=facts.category,
            report_count=count or 1,
            window_start=start,
            window_minutes=policy.surge.region_category_window_minutes,
            detected_at=at,
        )
        _publish_emerging_risk(session, topics, f"risk:{facts.region}:{facts.category.value}", risk)


async def _region_reports(session: AsyncSession, facts: EscalationFacts, since: datetime) -> int:
    """Reports in the region and category since then."""
    return (
        await session.scalar(
            select(func.count()).where(
                CaseReport.region == facts.region,
                CaseReport.category == facts.category.value,
                CaseReport.received_at > since,
            )
        )
        or 0
    )


def _publish_emerging_risk(
    session: AsyncSession, topics: Topics, key: str, risk: EmergingRiskEvent
) -> None:
    envelope = Envelope.new(EventType.RISK_EMERGING, SOURCE, risk)
    add_to_outbox(session, outbox, OutgoingMessage(topics.cases, key, envelope))
    log.info(
        "risk_emerging",
        scope=risk.scope,
        region=risk.region,
        category=risk.category.value,
        case_id=str(risk.case_id) if risk.case_id else None,
        reports=risk.report_count,
    )
