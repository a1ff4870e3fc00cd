"""SLA rules: deadlines by band (tightened by a legal deadline) and which alerts are due. No I/O."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.router.policy import Policy
from shared.events import CaseStatus, Severity

SlaTarget = Literal["acknowledge", "resolve"]
SlaAlertKind = Literal["warning", "breached"]


@dataclass(frozen=True)
class Deadlines:
    acknowledge_due: datetime
    resolve_due: datetime


def sla_deadlines(
    severity: Severity, opened_at: datetime, legal_deadline: datetime | None, policy: Policy
) -> Deadlines:
    """Targets by band, from `opened_at`; with a legal deadline, resolution is due a margin
    before it: the policy's margin, or half the time left when less than twice that is left,
    and never before `opened_at` (a deadline already past is due at once)."""
    target = policy.sla.targets[severity]
    acknowledge = opened_at + timedelta(minutes=target.acknowledge_minutes)
    resolve = opened_at + timedelta(minutes=target.resolve_minutes)
    if legal_deadline is not None:
        left = max(legal_deadline - opened_at, timedelta(0))
        margin = min(timedelta(minutes=policy.sla.legal_deadline_margin_minutes), left / 2)
        resolve = min(resolve, max(opened_at, legal_deadline - margin))
        acknowledge = min(acknowledge, resolve)
    return Deadlines(acknowledge, resolve)


@dataclass(frozen=True)
class SlaClock:
    """One target of one case: when it started, when it is due, what was already sent."""

    target: SlaTarget
    started_at: datetime
    due_at: datetime
    warned: bool
    breached: bool


@dataclass(frozen=True)
class SlaAlert:
    target: SlaTarget
    kind: SlaAlertKind
    due_at: datetime


def running_clocks(status: CaseStatus, clocks: list[SlaClock]) -> list[SlaClock]:
    """Acknowledgement stops the acknowledge clock; resolution stops both."""
    if status is CaseStatus.RESOLVED:
        return []
    if status is CaseStatus.ACKNOWLEDGED:
        return [clock for clock in clocks if clock.target == "resolve"]
    return clocks


def due_alert(clock: SlaClock, now: datetime, warning_at_fraction: float) -> SlaAlert | None:
    """At most one alert per check: the breach once due, else the warning once its time came.
    A check that first sees a clock already past due sends only the breach."""
    if clock.breached:
        return None
    if now >= clock.due_at:
        return SlaAlert(clock.target, "breached", clock.due_at)
    warn_at = clock.started_at + (clock.due_at - clock.started_at) * warning_at_fraction
    if not clock.warned and now >= warn_at:
        return SlaAlert(clock.target, "warning", clock.due_at)
    return None
