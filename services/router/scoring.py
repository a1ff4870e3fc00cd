"""Severity scoring: a pure function from facts, context and policy to an explained score."""

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from services.router.facts import EscalationFacts
from services.router.policy import BANDS, Policy, When
from shared.events import Severity

RuleKind = Literal["weight", "cap", "floor", "surge"]


@dataclass(frozen=True)
class ScoringContext:
    """What scoring needs beyond the report itself, computed by the caller."""

    now: datetime
    velocity_per_hour: float = 1.0
    active_windows: frozenset[str] = frozenset()  # window kinds active in the report's region
    keyword_hits: frozenset[str] = frozenset()  # names of keyword lists found in the text


@dataclass(frozen=True)
class RuleHit:
    name: str
    kind: RuleKind
    contribution: int  # points this rule added to (or took from) the score


@dataclass(frozen=True)
class Decision:
    score: int
    severity: Severity
    rules: tuple[RuleHit, ...]
    policy_version: str

    def explanation(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "severity": self.severity.value,
            "policy_version": self.policy_version,
            "rules": [
                {"name": hit.name, "kind": hit.kind, "contribution": hit.contribution}
                for hit in self.rules
            ],
        }


def build_context(
    facts: EscalationFacts, policy: Policy, now: datetime, velocity_per_hour: float = 1.0
) -> ScoringContext:
    # Window dates are the country's own calendar days. Local dates run from UTC-12 to
    # UTC+14, so a window counts while one of its dates is a date anywhere: it never ends
    # early in a country's evening (it may count a few hours longer elsewhere).
    earliest, latest = (now - timedelta(hours=12)).date(), (now + timedelta(hours=14)).date()
    windows = frozenset(
        window.kind
        for window in policy.windows
        if facts.region == window.country and window.starts <= latest and earliest <= window.ends
    )
    text = facts.text.casefold()
    hits = frozenset(
        name
        for name, languages in policy.keywords.items()
        if _contains_any(text, tuple(term for terms in languages.values() for term in terms))
    )
    return ScoringContext(now, velocity_per_hour, windows, hits)


def _contains_any(text: str, terms: tuple[str, ...]) -> bool:
    """Whether any of the terms is in the casefolded text as a whole word or phrase."""
    pattern = _any_of(terms)
    return pattern is not None and pattern.search(text) is not None


@lru_cache(maxsize=256)
def _any_of(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for a keyword list, compiled once; None for a list with no terms."""
    if not terms:
        return None
    alternatives = "|".join(re.escape(term.casefold()) for term in terms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def matches(when: When, facts: EscalationFacts, context: ScoringContext) -> bool:
    signals = facts.signals
    deadline = signals.legal_deadline
    checks = (
        when.category is None or facts.category in when.category,
        when.product is None or facts.product in when.product,
        when.reporter is None or facts.reporter.type in when.reporter,
        when.region is None or facts.region in when.region,
        when.signals is None or all(getattr(signals, name) for name in when.signals),
        when.no_signals is None or when.no_signals is not signals.any(),
        when.reach_at_least is None or (signals.reach or 0) >= when.reach_at_least,
        when.legal_deadline_within_hours is None
        or (
            deadline is not None
            and deadline - context.now < timedelta(hours=when.legal_deadline_within_hours)
        ),
        when.window is None or when.window in context.active_windows,
        when.keywords is None or bool(context.keyword_hits.intersection(when.keywords)),
        when.velocity_at_least is None or context.velocity_per_hour >= when.velocity_at_least,
    )
    return all(checks)


def score_escalation(facts: EscalationFacts, context: ScoringContext, policy: Policy) -> Decision:
    """Weights add up (clamped to 0-100); caps then floors bound the band, floors winning."""
    hits = [
        RuleHit(rule.name, "weight", rule.weight)
        for rule in policy.rules
        if matches(rule.when, facts, context)
    ]
    score = max(0, min(100, sum(hit.contribution for hit in hits)))
    for cap in policy.caps:
        if matches(cap.when, facts, context):
            capped = min(score, policy.highest_score(cap.band))
            hits.append(RuleHit(cap.name, "cap", capped - score))
            score = capped
    for floor in policy.floors:
        if matches(floor.when, facts, context):
            raised = max(score, policy.lowest_score(floor.band))
            hits.append(RuleHit(floor.name, "floor", raised - score))
            score = raised
    return Decision(score, policy.band_of(score), tuple(hits), policy.version)


def raise_one_band(decision: Decision, policy: Policy, name: str = "surge") -> Decision:
    """A surge lifts the band by one (SEV1 stays SEV1) and the score to that band's lowest."""
    target = BANDS[max(0, BANDS.index(decision.severity) - 1)]
    score = max(decision.score, policy.lowest_score(target))
    hit = RuleHit(name, "surge", score - decision.score)
    return replace(decision, score=score, severity=target, rules=(*decision.rules, hit))


def decision_from_explanation(explanation: dict[str, Any]) -> Decision:
    """The inverse of Decision.explanation, for decisions stored with a case."""
    return Decision(
        score=explanation["score"],
        severity=Severity(explanation["severity"]),
        rules=tuple(
            RuleHit(rule["name"], rule["kind"], rule["contribution"])
            for rule in explanation["rules"]
        ),
        policy_version=explanation["policy_version"],
    )
