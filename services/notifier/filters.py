"""Which events a live client or a subscription wants: teams, categories, severity, types.

Pure rules, no I/O. SEV1 is the most severe: a minimum severity of SEV2 passes SEV1 and SEV2.
An event whose case has no severity yet passes only filters without a minimum severity. An
event about no case (an emerging risk) has no team and no severity: it passes only filters
asking for neither, and a category filter when its category is one of them.
"""

from collections.abc import Collection
from dataclasses import dataclass, field

from shared.events import CaseSnapshot, Severity

SEVERITY_RANK = {Severity.SEV1: 1, Severity.SEV2: 2, Severity.SEV3: 3, Severity.SEV4: 4}


@dataclass(frozen=True)
class EventFilter:
    """Empty collections mean "any"."""

    teams: frozenset[str] = field(default_factory=frozenset)
    categories: frozenset[str] = field(default_factory=frozenset)
    event_types: frozenset[str] = field(default_factory=frozenset)
    min_severity: Severity | None = None

    @classmethod
    def of(
        cls,
        teams: Collection[str] = (),
        categories: Collection[str] = (),
        event_types: Collection[str] = (),
        min_severity: Severity | None = None,
    ) -> "EventFilter":
        return cls(frozenset(teams), frozenset(categories), frozenset(event_types), min_severity)

    def matches(
        self, event_type: str, case: CaseSnapshot | None, category: str | None = None
    ) -> bool:
        """`case` is None for an event about no case; `category` is then the one it is about,
        if any (an emerging risk's)."""
        if self.event_types and event_type not in self.event_types:
            return False
        if case is None:
            # No team and no severity to match: a filter asking for either does not want it.
            if self.teams or self.min_severity:
                return False
            return not self.categories or category in self.categories
        if self.teams and not self.teams & {case.team, *case.watchers}:
            return False
        if self.categories and case.category.value not in self.categories:
            return False
        return self.min_severity is None or at_least(case.severity, self.min_severity)


def at_least(severity: Severity | None, minimum: Severity) -> bool:
    return severity is not None and SEVERITY_RANK[severity] <= SEVERITY_RANK[minimum]
