"""Escalation policies and their steps: who is paged when, until someone acknowledges; pure.

A team's policy is an ordered list of steps. Step 1 fires `wait` after the case opens (usually
at once), each later step `wait` after the one before, for as long as the case stays open:
typically the on-call responder, the on-call again, the secondary, then the team lead. The wait
is per severity band, with a default for bands not listed. Acknowledge or resolve stops it.

A target is `email:<address>` or `chat:<incoming webhook URL>`; `{assignee}` in an address
is replaced by the case's assignee (the on-call responder the router picked), and a target
naming `{assignee}` is skipped while the case has none.
"""

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from shared.events import Severity

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
ASSIGNEE = "{assignee}"


def parse_duration(value: object) -> object:
    """`90`, `"90s"`, `"5m"`, `"1h"` or `"250ms"` as seconds; anything else is left to pydantic."""
    if isinstance(value, str) and (match := DURATION.match(value)):
        return float(match.group(1)) * UNIT_S[match.group(2) or "s"]
    return value


# A year at most, and never infinite: a wait past what a timer's clock can hold would fail the
# step's computation. A policy that should stop paging simply ends.
MAX_WAIT_S = 366 * 24 * 3600.0
Seconds = Annotated[
    float, BeforeValidator(parse_duration), Field(ge=0, le=MAX_WAIT_S, allow_inf_nan=False)
]


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    wait: Seconds = 0.0
    wait_by_severity: dict[Severity, Seconds] = Field(default_factory=dict)
    targets: list[str] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def known_channels(cls, targets: list[str]) -> list[str]:
        for target in targets:
            channel, _, address = target.partition(":")
            if channel not in ("email", "chat") or not address:
                raise ValueError(f"{target!r}: a target is email:<address> or chat:<url>")
        return targets

    def wait_s(self, severity: Severity | None) -> float:
        if severity is not None and severity in self.wait_by_severity:
            return self.wait_by_severity[severity]
        return self.wait


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[Step] = Field(min_length=1, max_length=20)


def stored_policy(stored: Any) -> Policy | ValidationError:
    """A policy as stored, validated: the policy, or why it does not validate (one stored before
    a rule it breaks, or written around the CLI)."""
    try:
        return Policy.model_validate(stored)
    except ValidationError as error:
        return error


def first_fire_at(policy: Policy, severity: Severity | None, opened_at: datetime) -> datetime:
    return opened_at + timedelta(seconds=policy.steps[0].wait_s(severity))


def next_fire_at(
    policy: Policy, fired_step: int, severity: Severity | None, fired_at: datetime
) -> datetime | None:
    """When the step after `fired_step` fires, or None when the policy has run out."""
    following = fired_step + 1
    if following >= len(policy.steps):
        return None
    return fired_at + timedelta(seconds=policy.steps[following].wait_s(severity))


def resolve_targets(step: Step, assignee: str | None) -> list[tuple[str, str]]:
    """(channel, address) pairs for a step, with `{assignee}` filled in or the target skipped."""
    resolved = []
    for target in step.targets:
        channel, _, address = target.partition(":")
        if ASSIGNEE in address:
            if not assignee:
                continue
            address = address.replace(ASSIGNEE, assignee)
        resolved.append((channel, address))
    return resolved
