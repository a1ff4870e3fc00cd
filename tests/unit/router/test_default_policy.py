"""The default policy's contract (DESIGN "Default policy"): team, watchers and band per case."""

from typing import Any

import pytest

from services.router.assignment import route_escalation
from services.router.scoring import build_context, score_escalation
from tests.unit.router.policy_fixtures import DEFAULT_POLICY_PATH, NOW, default_policy, facts

POLICY = default_policy()
GO, PP, COMMS, LEGAL = "Global Operations", "Public Policy", "Communications", "Legal"

# (id, facts, velocity per hour, team, watchers, band, score)
SCENARIOS: list[tuple[str, Any, float, str, tuple[str, ...], str, int]] = [
    (
        "crisis-imminent-harm-flagger",
        facts("crisis", "trusted_flagger", imminent_harm=True),
        1,
        GO,
        (PP, COMMS),
        "SEV1",
        85,
    ),
    ("crisis-no-signals", facts("crisis", "monitoring"), 1, GO, (PP, COMMS), "SEV3", 50),
    (
        "crisis-in-crisis-window",
        facts("crisis", "press", region="UA"),
        1,
        GO,
        (PP, COMMS),
        "SEV2",
        60,
    ),
    (
        "crisis-imminent-harm-floor-sev1",
        facts("crisis", imminent_harm=True),
        1,
        GO,
        (PP, COMMS),
        "SEV1",
        80,
    ),
    ("crisis-high-velocity", facts("crisis", "trusted_flagger"), 25, GO, (PP, COMMS), "SEV2", 75),
    (
        "crisis-spanish-keyword-reach",
        facts("crisis", "ngo", text="Tiroteo en vivo", reach=200_000),
        1,
        GO,
        (PP, COMMS),
        "SEV2",
        75,
    ),
    (
        "elections-active-window-floor",
        facts("elections", region="BR"),
        1,
        "Elections Integrity",
        (PP,),
        "SEV2",
        60,
    ),
    (
        "elections-no-window",
        facts("elections", "ngo", region="FR"),
        1,
        "Elections Integrity",
        (PP,),
        "SEV3",
        35,
    ),
    ("elections-no-region", facts("elections"), 1, "Elections Integrity", (PP,), "SEV4", 30),
    (
        "elections-window-public-figure",
        facts("elections", "trusted_flagger", region="US", public_figure=True),
        1,
        "Elections Integrity",
        (PP,),
        "SEV2",
        65,
    ),
    ("community-standards-plain", facts("community_standards"), 1, GO, (), "SEV4", 20),
    (
        "minors-alone-floor-sev2",
        facts("community_standards", "trusted_flagger", minors_involved=True),
        1,
        GO,
        (),
        "SEV2",
        60,
    ),
    (
        "imminent-harm-with-minors-sev1",
        facts("community_standards", imminent_harm=True, minors_involved=True),
        1,
        GO,
        (),
        "SEV1",
        80,
    ),
    (
        "imminent-harm-alone-floor-sev2",
        facts("community_standards", imminent_harm=True),
        1,
        GO,
        (),
        "SEV2",
        60,
    ),
    (
        "spanish-self-harm-and-velocity",
        facts("community_standards", text="Riesgo de suicidio"),
        6,
        GO,
        (),
        "SEV3",
        50,
    ),
    (
        "german-child-safety-keyword",
        facts("community_standards", "trusted_flagger", text="Verdacht auf Kindesmissbrauch"),
        1,
        GO,
        (),
        "SEV3",
        50,
    ),
    ("user-escalation-no-signals-sev4", facts("user_escalation"), 1, GO, (), "SEV4", 5),
    (
        "user-escalation-keyword-still-capped",
        facts("user_escalation", "government", text="bomb attack"),
        1,
        GO,
        (),
        "SEV4",
        30,
    ),
    (
        "user-escalation-imminent-harm",
        facts("user_escalation", imminent_harm=True),
        1,
        GO,
        (),
        "SEV2",
        60,
    ),
    (
        "partner-inquiry-no-signals-sev4",
        facts("partner_inquiry", "partner"),
        1,
        "Partnerships",
        (),
        "SEV4",
        5,
    ),
    (
        "partner-inquiry-legal-deadline",
        facts("partner_inquiry", "partner", deadline_in_h=12),
        1,
        "Partnerships",
        (LEGAL,),
        "SEV2",
        60,
    ),
    (
        "advertiser-policy-plain",
        facts("advertiser_policy", "advertiser"),
        1,
        "Ads & Commerce Integrity",
        ("Sales",),
        "SEV4",
        15,
    ),
    (
        "advertiser-policy-famous-viral",
        facts("advertiser_policy", "advertiser", public_figure=True, reach=2_000_000),
        1,
        "Ads & Commerce Integrity",
        ("Sales",),
        "SEV3",
        45,
    ),
    (
        "commerce-policy-plain",
        facts("commerce_policy"),
        1,
        "Ads & Commerce Integrity",
        (),
        "SEV4",
        15,
    ),
    (
        "ip-rights-holder",
        facts("intellectual_property", "rights_holder"),
        1,
        "IP Operations",
        (LEGAL,),
        "SEV4",
        20,
    ),
    (
        "ip-deadline-today-legal-once",
        facts("intellectual_property", "rights_holder", deadline_in_h=10),
        1,
        "IP Operations",
        (LEGAL,),
        "SEV2",
        60,
    ),
    (
        "legal-request-deadline-48h",
        facts("legal_request", "government", deadline_in_h=48),
        1,
        LEGAL,
        (),
        "SEV3",
        40,
    ),
    (
        "legal-request-deadline-6h",
        facts("legal_request", "government", deadline_in_h=6),
        1,
        LEGAL,
        (),
        "SEV2",
        60,
    ),
    (
        "legal-request-deadline-passed",
        facts("legal_request", "government", deadline_in_h=-1),
        1,
        LEGAL,
        (),
        "SEV2",
        60,
    ),
    (
        "law-enforcement-plain",
        facts("law_enforcement", "law_enforcement"),
        1,
        "Law Enforcement Response",
        (LEGAL,),
        "SEV3",
        45,
    ),
    (
        "law-enforcement-imminent-harm",
        facts("law_enforcement", "law_enforcement", imminent_harm=True),
        1,
        "Law Enforcement Response",
        (LEGAL,),
        "SEV2",
        75,
    ),
    (
        "law-enforcement-harm-to-minors",
        facts("law_enforcement", "law_enforcement", imminent_harm=True, minors_involved=True),
        1,
        "Law Enforcement Response",
        (LEGAL,),
        "SEV1",
        100,
    ),
    ("press-inquiry-plain", facts("press_inquiry", "press"), 1, COMMS, (PP,), "SEV4", 20),
    (
        "press-inquiry-famous-viral",
        facts("press_inquiry", "press", public_figure=True, reach=1_500_000),
        1,
        COMMS,
        (PP,),
        "SEV3",
        50,
    ),
    ("other-plain", facts("other"), 1, GO, (), "SEV4", 10),
]


@pytest.mark.parametrize(
    ("report", "velocity", "team", "watchers", "band", "score"),
    [scenario[1:] for scenario in SCENARIOS],
    ids=[scenario[0] for scenario in SCENARIOS],
)
def test_default_policy_assigns_team_watchers_and_band(
    report: Any, velocity: float, team: str, watchers: tuple[str, ...], band: str, score: int
) -> None:
    context = build_context(report, POLICY, NOW, velocity)
    decision = score_escalation(report, context, POLICY)
    routing = route_escalation(report, context, POLICY)
    assert (routing.team, routing.watchers, decision.severity.value, decision.score) == (
        team,
        watchers,
        band,
        score,
    )


def test_every_decision_names_the_policy_version_and_its_rules() -> None:
    report = facts("crisis", "trusted_flagger", imminent_harm=True)
    decision = score_escalation(report, build_context(report, POLICY, NOW), POLICY)
    assert decision.policy_version == POLICY.version
    assert decision.policy_version.startswith("default@")
    assert [(hit.name, hit.contribution) for hit in decision.rules] == [
        ("category_crisis", 45),
        ("reporter_trusted", 10),
        ("imminent_harm", 30),
        ("imminent_harm_floor", 0),
        ("crisis_imminent_harm_floor", 0),
    ]


def test_the_readme_shows_the_default_policys_version() -> None:
    """The README shows the version every case records; it changes with the file's content."""
    readme = (DEFAULT_POLICY_PATH.parents[1] / "README.md").read_text()
    assert readme.count(f"`{POLICY.version}`") == 1
    assert readme.count(f"# ok: {POLICY.version} ") == 1
