"""The escalation schema: every contract field with its rules; property tests over it."""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.intake.app import create_app
from services.intake.schemas import EXAMPLE_ESCALATION, FULL_EXAMPLE_ESCALATION, EscalationIn
from services.intake.settings import IntakeSettings
from shared.events import COUNTRY_CODES, Category, EvidenceKind, Product, ReporterType


def validate(**changes: Any) -> EscalationIn:
    return EscalationIn.model_validate_json(json.dumps({**EXAMPLE_ESCALATION, **changes}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", "DE"),
        ("region", "XK"),
        ("language", "en"),
        ("language", "pt-BR"),
        ("language", "zh-Hant-TW"),
        ("language", "sr-Latn-RS"),
        ("language", "es-419"),
        ("language", "x-klingon"),
        ("occurred_at", "2026-05-01T12:00:00Z"),
        ("occurred_at", "2026-05-01T12:00:00.123456789+05:30"),
        ("subject", {"url": "https://facebook.com/watch/123"}),
        ("signals", {"reach": 0, "legal_deadline": "2026-05-02T09:00:00-03:00"}),
        ("evidence", [{"url": "http://x.example/1", "kind": "video", "sensitive": True}]),
        ("labels", {f"k{n}": "v" * 500 for n in range(50)}),
        ("description", "x" * 20_000),
        ("title", "x" * 200),
    ],
)
def test_contract_values_are_accepted(field: str, value: Any) -> None:
    validate(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", "UK"),  # not an ISO 3166-1 code (GB is)
        ("region", "DEU"),
        ("language", "en_US"),
        ("language", "e"),
        ("language", "en--US"),
        ("occurred_at", "yesterday"),
        ("occurred_at", "2026-05-01"),
        ("occurred_at", 1767225600),
        ("occurred_at", "0001-01-01T00:30:00+01:00"),  # overflowed the router's arithmetic
        ("signals", {"legal_deadline": "9999-12-31T23:00:00-12:00"}),
        ("subject", {"url": "not a url"}),
        ("subject", {"url": "https://x.example/\x00"}),  # JSONB cannot store it
        ("evidence", [{"url": "https://x.example/\x00", "kind": "image"}]),
        ("subject", {"content_id": ""}),
        ("signals", {"reach": -1}),
        ("signals", {"legal_deadline": "2026-05-02T09:00:00"}),
        ("signals", {"imminent_harm": "yes"}),
        ("evidence", [{"kind": "image"}]),
        ("evidence", [{"url": "https://x.example/1"}] * 51),
        ("labels", {"": "v"}),
        ("labels", {"k": "v" * 501}),
        ("labels", {"k": 1}),
        ("dedup_key", ""),
        ("title", ""),
    ],
)
def test_values_outside_the_contract_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        validate(**{field: value})
    assert refused.value.errors()[0]["loc"][0] == field


def test_every_field_has_an_example_in_the_openapi_schema() -> None:
    example = FULL_EXAMPLE_ESCALATION
    assert set(example) == set(EscalationIn.model_fields)
    assert EscalationIn.model_json_schema()["additionalProperties"] is False
    EscalationIn.model_validate(example)


def text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=max_size).filter(lambda value: value.strip() != "")


valid_escalations = st.fixed_dictionaries(
    {
        "category": st.sampled_from([c.value for c in Category]),
        "title": text(200),
        "product": st.sampled_from([p.value for p in Product]),
        "reporter": st.fixed_dictionaries(
            {"type": st.sampled_from([r.value for r in ReporterType]), "name": text(200)}
        ),
    },
    optional={
        "description": st.text(max_size=300),
        "region": st.sampled_from(sorted(COUNTRY_CODES)),
        "dedup_key": text(200),
        "signals": st.fixed_dictionaries(
            {},
            optional={
                "imminent_harm": st.booleans(),
                "reach": st.integers(min_value=0, max_value=10**12),
            },
        ),
        "evidence": st.lists(
            st.fixed_dictionaries(
                {
                    "url": st.sampled_from(["https://a.example/x", "http://b.example/y?z=1"]),
                    "kind": st.sampled_from([k.value for k in EvidenceKind]),
                    "sensitive": st.booleans(),
                }
            ),
            max_size=3,
        ),
        "labels": st.dictionaries(
            st.from_regex(r"[a-z0-9_.:/-]{1,20}", fullmatch=True), st.text(max_size=50), max_size=5
        ),
    },
)


def storable(value: Any) -> bool:
    """No NUL or unpaired surrogate anywhere: what PostgreSQL's JSONB can hold."""
    text = json.dumps(value, ensure_ascii=False)
    return "\\u0000" not in text and not any("\ud800" <= char <= "\udfff" for char in text)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(valid_escalations)
def test_valid_escalations_survive_the_wire_unchanged(body: dict[str, Any]) -> None:
    """Accepted iff storable, and what intake sends is exactly what it was given."""
    if not storable(body):
        with pytest.raises(ValidationError):
            EscalationIn.model_validate_json(json.dumps(body))
        return
    escalation = EscalationIn.model_validate_json(json.dumps(body))
    again = EscalationIn.model_validate_json(escalation.model_dump_json())
    assert again == escalation
    sent = again.model_dump(mode="json")
    for field in body.keys() - {"signals"}:
        assert sent[field] == body[field]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from([*EscalationIn.model_fields, "x"]), json_values))
def test_arbitrary_json_is_accepted_or_refused_with_field_errors_never_crashes(
    body: dict[str, Any],
) -> None:
    errors: list[Any] = []
    try:
        EscalationIn.model_validate_json(json.dumps(body))
    except ValidationError as refused:
        errors = refused.errors()
    assert all(error["loc"] for error in errors), "every error names its field"


def test_openapi_shows_the_escalation_with_examples_and_problem_responses() -> None:
    spec = create_app(IntakeSettings()).openapi()
    escalation = spec["components"]["schemas"]["EscalationIn"]
    assert FULL_EXAMPLE_ESCALATION in escalation["examples"]
    post = spec["paths"]["/v1/escalations"]["post"]
    assert post["security"] == [{"HTTPBearer": []}]
    for status in ("400", "401", "409", "413", "415", "422", "429", "503"):
        assert "application/problem+json" in post["responses"][status]["content"]
    assert {
        "/v1/escalations/{escalation_id}",
        "/v1/integrations/alertmanager",
        "/v2/enqueue",
    } <= set(spec["paths"])
