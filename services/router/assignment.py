"""Assignment rules: the routing table names team and watchers; the least-loaded on-call acts."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.router.facts import EscalationFacts
from services.router.policy import Policy
from services.router.scoring import ScoringContext, matches


@dataclass(frozen=True)
class Routing:
    team: str
    watchers: tuple[str, ...]
    rules: tuple[str, ...]  # names of the overrides and watcher rules that fired


def route_escalation(facts: EscalationFacts, context: ScoringContext, policy: Policy) -> Routing:
    """The first matching override, else the category's route; watcher rules add teams."""
    fired: list[str] = []
    route = policy.routes[facts.category]
    for override in policy.route_overrides:
        if matches(override.when, facts, context):
            route, fired = override, [override.name]
            break
    watchers = list(route.watchers)
    for rule in policy.watcher_rules:
        if matches(rule.when, facts, context):
            fired.append(rule.name)
            watchers.extend(rule.add)
    unique = tuple(dict.fromkeys(team for team in watchers if team != route.team))
    return Routing(route.team, unique, tuple(fired))


def pick_least_loaded(on_call: Sequence[str], open_cases: Mapping[str, int]) -> str | None:
    """Fewest open cases wins; ties go to the first in rotation order, so the pick is stable."""
    if not on_call:
        return None
    return min(on_call, key=lambda responder: open_cases.get(responder, 0))
