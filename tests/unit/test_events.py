"""The wire schemas: correlation keys, topic names, and what an emerging risk names."""

from uuid import UUID

import pytest
from pydantic import ValidationError

from shared.events import EmergingRisk, Escalation, Topics

ESCALATION_ID = UUID("00000000-0000-0000-0000-000000000001")
BASE = {
    "category": "crisis",
    "title": "t",
    "product": "facebook",
    "reporter": {"type": "ngo", "name": "n"},
}


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"dedup_key": "d1", "subject": {"content_id": "c1"}}, "dedup:d1"),
        (
            {"subject": {"content_id": "c1", "account_id": "a1", "url": "https://x/1"}},
            "content_id:c1",
        ),
        ({"subject": {"account_id": "a1", "url": "https://x/1"}}, "account_id:a1"),
        ({"subject": {"url": "https://x/1"}}, "url:https://x/1"),
        ({"subject": {}}, f"escalation:{ESCALATION_ID}"),
        ({}, f"escalation:{ESCALATION_ID}"),
    ],
)
def test_correlation_key_prefers_dedup_key_then_subject_then_id(
    extra: dict[str, object], key: str
) -> None:
    assert Escalation.model_validate({**BASE, **extra}).correlation_key(ESCALATION_ID) == key


def test_topics_carry_the_prefix_and_the_design_partition_counts() -> None:
    topics = Topics.with_prefix("t1.")
    assert topics.escalations == "t1.flare.escalations.received.v1"
    assert topics.partition_counts() == {
        "t1.flare.escalations.received.v1": 12,
        "t1.flare.cases.v1": 12,
        "t1.flare.dlq.v1": 3,
    }


RISK = {
    "category": "crisis",
    "report_count": 20,
    "window_start": "2026-10-04T18:00:00Z",
    "window_minutes": 10,
    "detected_at": "2026-10-04T18:09:00Z",
}


@pytest.mark.parametrize(
    "names",
    [
        {"scope": "subject"},
        {"scope": "subject", "region": "BR"},
        {"scope": "region_category"},
        {"region": "BR", "case_id": str(ESCALATION_ID)},
    ],
    ids=["subject without its case", "subject with a region only", "no region", "region and case"],
)
def test_an_emerging_risk_names_what_its_scope_needs(names: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="emerging risk names"):
        EmergingRisk.model_validate({**RISK, **names})


def test_an_emerging_risk_from_before_scopes_reads_as_a_regions() -> None:
    risk = EmergingRisk.model_validate({**RISK, "region": "BR"})
    assert (risk.scope, risk.region, risk.case_id) == ("region_category", "BR", None)
