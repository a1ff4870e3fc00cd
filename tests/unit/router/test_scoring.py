"""Scoring: every weighted rule fires on its own condition; floors hold whatever the weights."""

import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.policy import Policy
from services.router.scoring import _contains_any, build_context, raise_one_band, score_escalation
from shared.events import Category, ReporterType
from tests.unit.router.policy_fixtures import NOW, default_policy, facts

POLICY = default_policy()

# (rule that must fire, report, velocity per hour)
RULES: list[tuple[str, Any, float]] = [
    ("category_crisis", facts("crisis"), 1),
    ("category_elections", facts("elections"), 1),
    ("category_law_enforcement", facts("law_enforcement"), 1),
    ("category_legal_request", facts("legal_request"), 1),
    ("category_community_standards", facts("community_standards"), 1),
    ("category_policy_and_rights", facts("commerce_policy"), 1),
    ("category_press_inquiry", facts("press_inquiry"), 1),
    ("category_other", facts("other"), 1),
    ("category_inquiry", facts("partner_inquiry"), 1),
    ("reporter_law_enforcement", facts("other", "law_enforcement"), 1),
    ("reporter_trusted", facts("other", "government"), 1),
    ("reporter_known", facts("other", "ngo"), 1),
    ("imminent_harm", facts("other", imminent_harm=True), 1),
    ("minors_involved", facts("other", minors_involved=True), 1),
    ("public_figure", facts("other", public_figure=True), 1),
    ("reach_100k", facts("other", reach=100_000), 1),
    ("reach_1m", facts("other", reach=1_000_000), 1),
    ("legal_deadline_24h", facts("other", deadline_in_h=23.9), 1),
    ("legal_deadline_72h", facts("other", deadline_in_h=71), 1),
    ("election_window", facts("other", region="BR"), 1),
    ("crisis_window", facts("other", region="SD"), 1),
    ("velocity_5_per_hour", facts("other"), 5),
    ("velocity_20_per_hour", facts("other"), 20),
    ("keywords_violence", facts("other", text="Menace d'ATTENTAT"), 1),
    ("keywords_self_harm", facts("other", text="talking about self-harm"), 1),
    ("keywords_child_safety", facts("other", text="possible grooming"), 1),
    ("inquiry_without_signals", facts("user_escalation"), 1),
    ("imminent_harm_floor", facts("other", imminent_harm=True), 1),
    ("minors_floor", facts("other", minors_involved=True), 1),
    ("legal_deadline_floor", facts("other", deadline_in_h=2), 1),
    ("election_window_floor", facts("elections", region="US"), 1),
    ("imminent_harm_to_minors_floor", facts("other", imminent_harm=True, minors_involved=True), 1),
    ("crisis_imminent_harm_floor", facts("crisis", imminent_harm=True), 1),
]
# (rule that must not fire, report, velocity per hour)
NOT_FIRING: list[tuple[str, Any, float]] = [
    ("legal_deadline_24h", facts("other", deadline_in_h=24), 1),
    ("reach_100k", facts("other", reach=99_999), 1),
    ("election_window", facts("other", region="DE"), 1),  # the German window is in 2027
    ("velocity_5_per_hour", facts("other"), 4.9),
    ("keywords_violence", facts("other", text="bombastic attacker"), 1),  # whole words only
    ("inquiry_without_signals", facts("user_escalation", public_figure=True), 1),
]


def fired(report: Any, velocity: float, policy: Policy = POLICY) -> dict[str, int]:
    decision = score_escalation(report, build_context(report, policy, NOW, velocity), policy)
    return {hit.name: hit.contribution for hit in decision.rules}


@pytest.mark.parametrize(("rule", "report", "velocity"), RULES, ids=[row[0] for row in RULES])
def test_rule_fires_on_its_condition(rule: str, report: Any, velocity: float) -> None:
    assert rule in fired(report, velocity)


@pytest.mark.parametrize(
    ("rule", "report", "velocity"), NOT_FIRING, ids=[f"no-{row[0]}" for row in NOT_FIRING]
)
def test_rule_stays_silent_just_outside_its_condition(
    rule: str, report: Any, velocity: float
) -> None:
    assert rule not in fired(report, velocity)


def test_every_rule_of_the_default_policy_is_covered_by_a_case() -> None:
    names = {rule.name for rule in POLICY.rules} | {rule.name for rule in POLICY.floors}
    names |= {rule.name for rule in POLICY.caps}
    assert names == {row[0] for row in RULES}


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (100, "SEV1"),
        (80, "SEV1"),
        (79, "SEV2"),
        (60, "SEV2"),
        (59, "SEV3"),
        (35, "SEV3"),
        (34, "SEV4"),
        (0, "SEV4"),
    ],
)
def test_bands_follow_the_thresholds(score: int, band: str) -> None:
    assert POLICY.band_of(score).value == band


@pytest.mark.parametrize(
    ("band", "raised", "score"),
    [("SEV4", "SEV3", 35), ("SEV3", "SEV2", 60), ("SEV2", "SEV1", 80), ("SEV1", "SEV1", 85)],
)
def test_a_surge_raises_one_band(band: str, raised: str, score: int) -> None:
    report = {
        "SEV4": facts("other"),
        "SEV3": facts("crisis", "monitoring"),
        "SEV2": facts("crisis", "press", region="UA"),
        "SEV1": facts("crisis", "trusted_flagger", imminent_harm=True),
    }[band]
    decision = score_escalation(report, build_context(report, POLICY, NOW), POLICY)
    assert decision.severity.value == band
    surged = raise_one_band(decision, POLICY)
    assert (surged.severity.value, surged.score, surged.rules[-1].name) == (raised, score, "surge")


def with_weights(weights: list[int]) -> Policy:
    rules = [
        rule.model_copy(update={"weight": weight})
        for rule, weight in zip(POLICY.rules, weights, strict=True)
    ]
    return POLICY.model_copy(update={"rules": rules})


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(
        st.integers(-100, 100), min_size=len(POLICY.rules), max_size=len(POLICY.rules)
    ),
    category=st.sampled_from(list(Category)),
    reporter=st.sampled_from(list(ReporterType)),
    region=st.sampled_from([None, "BR", "UA", "FR"]),
    imminent_harm=st.booleans(),
    minors=st.booleans(),
    deadline_in_h=st.sampled_from([None, 1.0, 23.0, 30.0]),
)
def test_floors_hold_whatever_the_weights(
    weights: list[int],
    category: Category,
    reporter: ReporterType,
    region: str | None,
    imminent_harm: bool,
    minors: bool,
    deadline_in_h: float | None,
) -> None:
    policy = with_weights(weights)
    report = facts(
        category.value,
        reporter.value,
        region=region,
        deadline_in_h=deadline_in_h,
        imminent_harm=imminent_harm,
        minors_involved=minors,
    )
    decision = score_escalation(report, build_context(report, policy, NOW), policy)
    band = decision.severity.value
    if (imminent_harm and minors) or (category is Category.CRISIS and imminent_harm):
        assert band == "SEV1"
    elif imminent_harm or minors or (deadline_in_h is not None and deadline_in_h < 24):
        assert band in {"SEV1", "SEV2"}
    if category is Category.ELECTIONS and region == "BR":
        assert band in {"SEV1", "SEV2"}
    assert policy.band_of(decision.score) == decision.severity


@settings(max_examples=50, deadline=None)
@given(
    weights=st.lists(
        st.integers(-100, 100), min_size=len(POLICY.rules), max_size=len(POLICY.rules)
    ),
    category=st.sampled_from([Category.PARTNER_INQUIRY, Category.USER_ESCALATION]),
    text=st.sampled_from(["hello", "bomb attack", "suicide"]),
)
def test_inquiries_without_signals_are_sev4_whatever_the_weights(
    weights: list[int], category: Category, text: str
) -> None:
    policy = with_weights(weights)
    report = facts(category.value, text=text)
    decision = score_escalation(report, build_context(report, policy, NOW, 50), policy)
    assert decision.severity.value == "SEV4"


@pytest.mark.parametrize(
    ("now", "active"),
    [
        ("2026-09-30T09:00:00+00:00", False),  # the day before, everywhere
        ("2026-09-30T11:00:00+00:00", True),  # already Oct 1 in UTC+14 (Kiribati)
        ("2026-11-21T03:00:00+00:00", True),  # UTC's Nov 21 is still Nov 20 in US evenings
        ("2026-11-21T13:00:00+00:00", False),  # Nov 21 everywhere
    ],
)
def test_a_window_counts_while_any_of_its_dates_is_a_date_somewhere(now: str, active: bool) -> None:
    context = build_context(
        facts("elections", region="US"), default_policy(), datetime.fromisoformat(now)
    )
    assert ("election" in context.active_windows) is active


def one_term_at_a_time(text: str, terms: tuple[str, ...]) -> bool:
    """The plain reading of a keyword list: any term found as a whole word or phrase."""
    return any(re.search(rf"(?<!\w){re.escape(term.casefold())}(?!\w)", text) for term in terms)


WORDS = ["bomb", "bombastic", "attack", "self-harm", "ÉTÉ", "a b", "c++", ""]


@given(
    terms=st.lists(st.sampled_from(WORDS), max_size=4).map(tuple),
    text=st.lists(st.sampled_from([*WORDS, " ", ",", "x", "-"]), max_size=8).map("".join),
)
def test_a_keyword_list_matches_as_its_terms_one_at_a_time(
    terms: tuple[str, ...], text: str
) -> None:
    assert _contains_any(text.casefold(), terms) == one_term_at_a_time(text.casefold(), terms)
