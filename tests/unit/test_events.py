"""The wire schemas: correlation keys and topic names."""

from uuid import UUID

import pytest

from shared.events import Escalation, Topics

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
