"""What the router reads from a report: which reports count as sensitive."""

import pytest

from services.router.facts import EscalationFacts
from tests.unit.router.policy_fixtures import facts

URL = "https://example.org/frame.png"


@pytest.mark.parametrize(
    ("evidence", "signals", "sensitive"),
    [
        ([], {}, False),
        ([{"url": URL, "sensitive": False}], {"imminent_harm": True}, False),
        ([{"url": URL, "sensitive": False}, {"url": URL, "sensitive": True}], {}, True),
        ([], {"minors_involved": True}, True),
    ],
    ids=["nothing", "plain-evidence", "evidence-marked-sensitive", "minors-involved"],
)
def test_sensitive_evidence_or_minors_make_a_report_sensitive(
    evidence: list[dict[str, object]], signals: dict[str, bool], sensitive: bool
) -> None:
    report = facts("community_standards").model_dump()
    report["signals"] = signals
    assert EscalationFacts.model_validate({**report, "evidence": evidence}).sensitive is sensitive
