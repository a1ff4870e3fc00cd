"""Writing a decision onto a case: score, band, explanation and the SLA deadlines they imply."""

from datetime import datetime

from services.router.assignment import Routing
from services.router.models import Case
from services.router.policy import Policy
from services.router.scoring import Decision
from services.router.sla import sla_deadlines
from shared.events import Severity


def set_decision(case: Case, base: Decision, effective: Decision, routing: Routing) -> None:
    case.score, case.severity = effective.score, effective.severity.value
    case.policy_version = effective.policy_version
    case.explanation = {
        **effective.explanation(),
        "base": base.explanation(),
        "routing": {
            "team": routing.team,
            "watchers": list(routing.watchers),
            "rules": list(routing.rules),
        },
    }


def tighten_deadlines(case: Case, policy: Policy, at: datetime) -> None:
    """After a raise in severity or a new legal deadline at `at`: the new band's targets count
    from then (counted from the opening, a case raised hours later would be breached before
    anyone could act), or from the opening for a report received before it (a late one, or a
    replay), and deadlines only ever move earlier. A deadline moved earlier is warned of again
    (the warning names the new deadline)."""
    deadlines = sla_deadlines(
        Severity(case.severity or Severity.SEV4),
        max(at, case.created_at),
        case.legal_deadline,
        policy,
    )
    acknowledge = min(filter(None, [case.ack_due_at, deadlines.acknowledge_due]))
    resolve = min(filter(None, [case.resolve_due_at, deadlines.resolve_due]))
    if case.ack_due_at is not None and acknowledge < case.ack_due_at:
        case.ack_warned = False
    if case.resolve_due_at is not None and resolve < case.resolve_due_at:
        case.resolve_warned = False
    case.ack_due_at, case.resolve_due_at = acknowledge, resolve
