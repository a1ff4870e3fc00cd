"""Rules that hold as a legal deadline draws near, applied as time passes, not only when a report
arrives: a case whose deadline comes within the policy's hours later is raised by its floors
and informs the teams its watcher rules name (by default: SEV2 at least, and Legal, within 24 h).

Only the rules that test nothing but `legal_deadline_within_hours` are applied here: the others
test a report's facts, which a case does not keep.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Select,
    all_,
    and_,
    false,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.case_events import record_change
from services.router.decisions import tighten_deadlines
from services.router.models import Case
from services.router.policy import BANDS, Policy, When
from services.router.scoring import Decision, RuleHit, decision_from_explanation
from shared.events import EventType, Severity, Topics
from shared.logging import get_logger

log = get_logger(__name__)
BATCH = 500


@dataclass(frozen=True)
class DeadlineRule:
    name: str
    within: timedelta
    band: Severity | None = None  # a floor's
    teams: tuple[str, ...] = ()  # a watcher rule's


def deadline_only(when: When) -> timedelta | None:
    """The nearness a rule tests, if it tests nothing else."""
    tested = when.model_dump(exclude_none=True)
    if set(tested) != {"legal_deadline_within_hours"} or when.legal_deadline_within_hours is None:
        return None
    return timedelta(hours=when.legal_deadline_within_hours)


def deadline_rules(policy: Policy) -> list[DeadlineRule]:
    rules = [
        DeadlineRule(floor.name, within, band=floor.band)
        for floor in policy.floors
        if (within := deadline_only(floor.when)) is not None
    ]
    rules += [
        DeadlineRule(rule.name, within, teams=tuple(rule.add))
        for rule in policy.watcher_rules
        if (within := deadline_only(rule.when)) is not None
    ]
    return rules


def _at_least(band: Severity) -> list[str]:
    return [severity.value for severity in BANDS[: BANDS.index(band) + 1]]


def _owed(rule: DeadlineRule, now: datetime) -> ColumnElement[bool]:
    """Cases the rule holds for now and whose state does not show it yet."""
    near = Case.legal_deadline < now + rule.within
    if rule.band is not None:
        return and_(near, Case.severity.not_in(_at_least(rule.band)))
    missing = [and_(Case.team != team, literal(team) != all_(Case.watchers)) for team in rule.teams]
    return and_(near, or_(*missing))


def nearing_cases(rules: list[DeadlineRule], now: datetime, batch: int) -> Select[Case]:
    """The unresolved cases some rule is owed to, nearest deadline first, locked (others
    skipped). The partial index `cases_legal_deadline_pending` (migration 0008) holds just the
    unresolved cases with a deadline, read up to the farthest a rule looks ahead: SQL literals
    for its predicate, so that PostgreSQL can prove a plan's use of it from the text alone."""
    owed = or_(false(), *(_owed(rule, now) for rule in rules))
    horizon = now + max(rule.within for rule in rules)
    return (
        select(Case)
        .where(
            Case.status != literal_column("'resolved'"),
            Case.legal_deadline.is_not(None),
            Case.legal_deadline < horizon,
            Case.explanation.is_not(None),
            owed,
        )
        .order_by(Case.legal_deadline)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )


async def apply_deadline_rules(
    session: AsyncSession, topics: Topics, policy: Policy, now: datetime, batch: int = BATCH
) -> int:
    """Raise and inform the cases whose legal deadline came near; returns how many changed."""
    rules = deadline_rules(policy)
    if not rules:
        return 0
    cases = (await session.scalars(nearing_cases(rules, now, batch))).all()
    for case in cases:
        assert case.legal_deadline is not None
        held = [rule for rule in rules if case.legal_deadline - now < rule.within]
        _apply(case, held, policy, now)
        await record_change(
            session,
            topics,
            case,
            EventType.CASE_UPDATED,
            actor="router",
            at=now,
            detail={
                "reason": f"legal deadline {case.legal_deadline.isoformat()} is near",
                "rules": [rule.name for rule in held],
            },
        )
        log.info("legal_deadline_near", case_id=str(case.id), severity=case.severity)
    return len(cases)


def _apply(case: Case, held: list[DeadlineRule], policy: Policy, now: datetime) -> None:
    """The floors on the case's decision and on its base (the decision a joining report is
    compared with: left unfloored, a weaker report would replace it and lower the case again),
    the watchers added, the deadlines tightened."""
    explanation = dict(case.explanation or {})
    floors = [rule for rule in held if rule.band is not None]
    decision = _floored(decision_from_explanation(explanation), floors, policy)
    if "base" in explanation:
        base = _floored(decision_from_explanation(explanation["base"]), floors, policy)
        explanation["base"] = base.explanation()
    for rule in held:
        added = [team for team in rule.teams if team != case.team]
        case.watchers = list(dict.fromkeys([*case.watchers, *added]))
    case.score, case.severity = decision.score, decision.severity.value
    case.explanation = {**explanation, **decision.explanation()}
    tighten_deadlines(case, policy, now)


def _floored(decision: Decision, floors: list[DeadlineRule], policy: Policy) -> Decision:
    for rule in floors:
        assert rule.band is not None
        if decision.severity.value not in _at_least(rule.band):
            score = max(decision.score, policy.lowest_score(rule.band))
            hit = RuleHit(rule.name, "floor", score - decision.score)
            decision = replace(
                decision, score=score, severity=rule.band, rules=(*decision.rules, hit)
            )
    return decision
