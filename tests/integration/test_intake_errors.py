"""Hostile and broken requests: every one is a 4xx problem+json naming what is wrong, and
nothing is stored (no escalation, no outbox row)."""

import json
from typing import Any

import pytest

from services.intake.schemas import EXAMPLE_ESCALATION
from tests.conftest import FlareEnv
from tests.intake_support import bearer, partner_session
from tests.integration.conftest import fetch

MIB = 1024 * 1024


def body(**changes: Any) -> bytes:
    return json.dumps({**EXAMPLE_ESCALATION, **changes}).encode()


def reporter(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE_ESCALATION["reporter"], **changes}  # type: ignore[dict-item]


JSON = {"Content-Type": "application/json"}
# (name, raw body, extra headers, status, the JSON pointer the problem names or None)
CASES: list[tuple[str, bytes, dict[str, str], int, str | None]] = [
    ("malformed_json", b'{"category": "crisis",', JSON, 400, None),
    ("deeply_nested_json", b"[" * 200_000 + b"]" * 200_000, JSON, 400, None),
    ("text_plain", body(), {"Content-Type": "text/plain"}, 415, None),
    ("no_content_type", body(), {}, 415, None),
    ("form", b"category=crisis", {"Content-Type": "application/x-www-form-urlencoded"}, 415, None),
    ("json_array", b"[]", JSON, 422, "/"),
    ("json_string", b'"crisis"', JSON, 422, "/"),
    ("empty_body", b"", JSON, 422, "/"),
    ("wrong_type", body(title=5), JSON, 422, "/title"),
    ("unknown_enum", body(category="riot"), JSON, 422, "/category"),
    ("unknown_field", body(colour="red"), JSON, 422, "/colour"),
    ("unknown_nested_field", body(reporter=reporter(phone="1")), JSON, 422, "/reporter/phone"),
    ("missing_title", body(title=None), JSON, 422, "/title"),
    ("blank_title", body(title="   "), JSON, 422, "/title"),
    ("long_title", body(title="x" * 201), JSON, 422, "/title"),
    ("long_description", body(description="x" * 20_001), JSON, 422, "/description"),
    ("unknown_reporter_type", body(reporter=reporter(type="spy")), JSON, 422, "/reporter/type"),
    ("other_reporter_type", body(reporter=reporter(type="press")), JSON, 422, "/reporter/type"),
    ("region_not_a_country", body(region="ZZ"), JSON, 422, "/region"),
    ("region_lower_case", body(region="de"), JSON, 422, "/region"),
    ("language_not_bcp47", body(language="en_US"), JSON, 422, "/language"),
    ("occurred_at_epoch", body(occurred_at=1767225600), JSON, 422, "/occurred_at"),
    ("occurred_at_no_zone", body(occurred_at="2026-05-01T12:00:00"), JSON, 422, "/occurred_at"),
    (
        "subject_url_not_http",
        body(subject={"url": "javascript:alert(1)"}),
        JSON,
        422,
        "/subject/url",
    ),
    ("evidence_url", body(evidence=[{"url": "ftp://x/y"}]), JSON, 422, "/evidence/0/url"),
    (
        "evidence_kind",
        body(evidence=[{"url": "https://x/y", "kind": "smell"}]),
        JSON,
        422,
        "/evidence/0/kind",
    ),
    ("reach_as_string", body(signals={"reach": "100"}), JSON, 422, "/signals/reach"),
    ("bool_as_number", body(signals={"imminent_harm": 1}), JSON, 422, "/signals/imminent_harm"),
    ("too_many_labels", body(labels={f"k{n}": "v" for n in range(51)}), JSON, 422, "/labels"),
    ("label_key", body(labels={"a b": "v"}), JSON, 422, "/labels/a b/[key]"),
    ("nul_character", body(description="a\u0000b"), JSON, 422, "/description"),
    ("lone_surrogate", b'{"title": "\\ud800"}', JSON, 422, "/title"),
    ("idempotency_key", body(), {**JSON, "Idempotency-Key": "has spaces"}, 422, "/Idempotency-Key"),
    ("over_one_mib", body(description="x" * MIB), JSON, 413, None),
]


@pytest.mark.parametrize(
    ("raw", "headers", "status", "pointer"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_bad_request_is_a_4xx_problem_naming_the_field_and_stores_nothing(
    flare_env: FlareEnv, raw: bytes, headers: dict[str, str], status: int, pointer: str | None
) -> None:
    async with partner_session(flare_env) as partner:
        response = await partner.http.post(
            "/v1/escalations", content=raw, headers={**bearer(partner.key), **headers}
        )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert problem["status"] == status
    if pointer is not None:
        assert pointer in [error["pointer"] for error in problem["errors"]], problem
    assert await fetch(flare_env, "SELECT 1 FROM intake.escalations") == []
    assert await fetch(flare_env, "SELECT 1 FROM intake.outbox") == []


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer flare_not-a-key", "Basic dXNlcjpwYXNz", "bearer \u0000"],
    ids=["missing", "empty", "no_token", "unknown_key", "basic", "nul"],
)
async def test_request_without_a_valid_key_is_401_before_anything_else(
    flare_env: FlareEnv, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with partner_session(flare_env) as partner:
        # Even a body that is also invalid gets 401: strangers learn nothing about the schema.
        response = await partner.http.post(
            "/v1/escalations", json={"colour": "red"}, headers=headers
        )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert await fetch(flare_env, "SELECT 1 FROM intake.escalations") == []


FIRING = {"status": "firing", "labels": {}, "fingerprint": "f1"}
WEBHOOK = {"version": "4", "status": "firing", "alerts": [FIRING]}
TRIGGER = {
    "event_action": "trigger",
    "payload": {"summary": "s", "source": "x", "severity": "info"},
}
# (name, path, JSON body, extra headers, status): the tools' endpoints refuse just as cleanly.
TOOL_CASES: list[tuple[str, str, object, dict[str, str], int]] = [
    ("am_no_key", "/v1/integrations/alertmanager", WEBHOOK, {"Authorization": ""}, 401),
    ("am_version_3", "/v1/integrations/alertmanager", {**WEBHOOK, "version": "3"}, {}, 422),
    (
        "am_nul_fingerprint",
        "/v1/integrations/alertmanager",
        {**WEBHOOK, "alerts": [{**FIRING, "fingerprint": "a\u0000"}]},
        {},
        422,
    ),
    ("am_not_json", "/v1/integrations/alertmanager", None, {"Content-Type": "text/plain"}, 415),
    ("pd_unknown_key", "/v2/enqueue", {**TRIGGER, "routing_key": "nope"}, {}, 401),
    (
        "pd_trigger_without_payload",
        "/v2/enqueue",
        {"event_action": "trigger", "routing_key": "k"},
        {},
        422,
    ),
    (
        "pd_resolve_without_dedup_key",
        "/v2/enqueue",
        {"event_action": "resolve", "routing_key": "k"},
        {},
        422,
    ),
    (
        "pd_nul_dedup_key",
        "/v2/enqueue",
        {**TRIGGER, "routing_key": "k", "dedup_key": "\u0000"},
        {},
        422,
    ),
    (
        "pd_unknown_severity",
        "/v2/enqueue",
        {
            **TRIGGER,
            "routing_key": "k",
            "payload": {"summary": "s", "source": "x", "severity": "meh"},
        },
        {},
        422,
    ),
]


@pytest.mark.parametrize(
    ("path", "payload", "headers", "status"),
    [case[1:] for case in TOOL_CASES],
    ids=[case[0] for case in TOOL_CASES],
)
async def test_bad_tool_payload_is_a_4xx_problem_and_stores_nothing(
    flare_env: FlareEnv, path: str, payload: object, headers: dict[str, str], status: int
) -> None:
    async with partner_session(flare_env) as partner:
        content = b"x" if payload is None else json.dumps(payload).encode()
        response = await partner.http.post(
            path,
            content=content,
            headers={**bearer(partner.key), "Content-Type": "application/json", **headers},
        )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await fetch(flare_env, "SELECT 1 FROM intake.escalations") == []
