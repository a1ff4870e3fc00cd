"""Bad input to every public endpoint of the running services: malformed JSON, wrong content
types, huge bodies, deep nesting, unicode edge cases, unknown enums, forged and expired
tokens, another partner's ids and keys, replays, and a flood from one partner. Each answer is a
clear problem+json 4xx (never a 5xx), and nothing is stored for what was refused."""

import asyncio
import json
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from services.intake.schemas import EXAMPLE_ESCALATION
from shared.auth import Role, mint_token
from shared.settings import LOCAL_JWT_SECRET
from tests.chaos.system import Flare, Load, flare_running, settle
from tests.chaos.table import Row
from tests.conftest import FlareEnv
from tests.intake_support import bearer, new_partner
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import bearer as responder_bearer

pytestmark = pytest.mark.chaos("bad-input")
NESTED = 100_000  # deeper than any JSON parser's recursion limit
HUGE = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'


def escalation(**fields: object) -> bytes:
    return json.dumps({**EXAMPLE_ESCALATION, **fields}).encode()


def nested(depth: int) -> bytes:
    return b'{"labels": ' + b"[" * depth + b"]" * depth + b"}"


@dataclass(frozen=True)
class Attempt:
    """One bad request and the answer it must get."""

    name: str
    service: str
    path: str
    body: bytes | None
    status: int
    content_type: str = "application/json"
    method: str = "POST"


PARTNER_ATTEMPTS = [
    Attempt("malformed JSON", "intake", "/v1/escalations", b'{"category": ', 400),
    Attempt("a JSON array", "intake", "/v1/escalations", b"[1, 2]", 422),
    Attempt("text/plain", "intake", "/v1/escalations", escalation(), 415, "text/plain"),
    Attempt(
        "form data", "intake", "/v1/escalations", b"a=b", 415, "application/x-www-form-urlencoded"
    ),
    Attempt("no content type", "intake", "/v1/escalations", escalation(), 415, ""),
    Attempt("2 MiB body", "intake", "/v1/escalations", HUGE, 413),
    Attempt("deep nesting", "intake", "/v1/escalations", nested(NESTED), 400),
    Attempt(
        "nesting in labels", "intake", "/v1/escalations", escalation(labels={"a": {"b": {}}}), 422
    ),
    Attempt("unknown category", "intake", "/v1/escalations", escalation(category="nope"), 422),
    Attempt(
        "unknown reporter type",
        "intake",
        "/v1/escalations",
        escalation(reporter={"type": "x", "name": "n"}),
        422,
    ),
    Attempt("NUL in the title", "intake", "/v1/escalations", escalation(title="a\u0000b"), 422),
    Attempt("lone surrogate", "intake", "/v1/escalations", b'{"title": "\\ud800"}', 422),
    Attempt("invalid UTF-8", "intake", "/v1/escalations", b'{"title": "\xff\xfe"}', 400),
    Attempt(
        "NUL in a label key", "intake", "/v1/escalations", escalation(labels={"a\u0000": "b"}), 422
    ),
    Attempt("201 emoji title", "intake", "/v1/escalations", escalation(title="🔥" * 201), 422),
    Attempt("bad region", "intake", "/v1/escalations", escalation(region="ZZZ"), 422),
    Attempt("malformed status id", "intake", "/v1/escalations/not-a-uuid", None, 422, method="GET"),
    Attempt("alertmanager malformed", "intake", "/v1/integrations/alertmanager", b"{", 400),
    Attempt(
        "alertmanager version 3",
        "intake",
        "/v1/integrations/alertmanager",
        b'{"version": "3", "alerts": []}',
        422,
    ),
    Attempt(
        "pagerduty unknown action",
        "intake",
        "/v2/enqueue",
        b'{"routing_key": "k", "event_action": "explode"}',
        422,
    ),
    Attempt(
        "pagerduty forged key",
        "intake",
        "/v2/enqueue",
        json.dumps(
            {
                "routing_key": "forged",
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "s", "severity": "critical"},
            }
        ).encode(),
        401,
    ),
]
RESPONDER_ATTEMPTS = [
    Attempt("ack malformed JSON", "router", "/v1/cases/{case}/resolve", b"{", 400),
    Attempt(
        "resolve unknown code", "router", "/v1/cases/{case}/resolve", b'{"resolution": "nope"}', 422
    ),
    Attempt("note NUL", "router", "/v1/cases/{case}/notes", b'{"text": "a\\u0000b"}', 422),
    # Every service limits body sizes the same way (ADR 0013).
    Attempt("note 2 MiB", "router", "/v1/cases/{case}/notes", HUGE, 413),
    Attempt("note deep nesting", "router", "/v1/cases/{case}/notes", nested(NESTED), 400),
    Attempt(
        "ack unknown case",
        "router",
        "/v1/cases/00000000-0000-0000-0000-000000000000/acknowledge",
        None,
        404,
    ),
    Attempt("cases bad filter", "router", "/v1/cases?severity=SEV9", None, 422, method="GET"),
    Attempt("cases NUL filter", "router", "/v1/cases?team=a%00b", None, 422, method="GET"),
    Attempt("cases bad cursor", "router", "/v1/cases?cursor=%00garbage", None, 400, method="GET"),
    Attempt(
        "trends bad dates",
        "router",
        "/v1/reports/trends?start=2026-13-01&end=x",
        None,
        422,
        method="GET",
    ),
    Attempt(
        "reassign NUL",
        "router",
        "/v1/cases/{case}/reassign",
        b'{"team": "a\\u0000", "reason": "r"}',
        422,
    ),
    Attempt(
        "deliveries NUL filter", "notifier", "/v1/deliveries?status=a%00b", None, 422, method="GET"
    ),
    Attempt("subscription malformed", "notifier", "/v1/subscriptions", b"{", 400),
    Attempt(
        "subscription bad enum",
        "notifier",
        "/v1/subscriptions",
        b'{"target": "https://example.org/h", "event_types": ["nope"]}',
        422,
    ),
    Attempt(
        "subscription NUL",
        "notifier",
        "/v1/subscriptions",
        b'{"target": "https://example.org/\\u0000"}',
        422,
    ),
    Attempt(
        "subscription NUL description",
        "notifier",
        "/v1/subscriptions",
        b'{"target": "http://127.0.0.1:9/h", "description": "a\\u0000"}',
        422,
    ),
    Attempt(
        "subscription NUL team",
        "notifier",
        "/v1/subscriptions",
        b'{"target": "http://127.0.0.1:9/h", "teams": ["b\\u0000"]}',
        422,
    ),
    Attempt("subscription 2 MiB", "notifier", "/v1/subscriptions", HUGE, 413),
    Attempt("subscription deep nesting", "notifier", "/v1/subscriptions", nested(NESTED), 400),
    Attempt(
        "subscription text/plain",
        "notifier",
        "/v1/subscriptions",
        b'{"target": "https://example.org/h"}',
        422,
        "text/plain",
    ),
]
# Requests that need a responder's token: with a forged or expired one, each is a 401.
NEEDING_A_TOKEN = [
    Attempt("list cases", "router", "/v1/cases", None, 401, method="GET"),
    Attempt("acknowledge", "router", "/v1/cases/{case}/acknowledge", None, 401),
    Attempt("note", "router", "/v1/cases/{case}/notes", b'{"text": "hi"}', 401),
    Attempt("delivery log", "notifier", "/v1/deliveries", None, 401, method="GET"),
    Attempt("subscribe", "notifier", "/v1/subscriptions", b'{"target": "https://e.org/h"}', 401),
    Attempt("case view", "notifier", "/v1/cases/{case}", None, 401, method="GET"),
]
FORGED_TOKENS = {
    "wrong secret": mint_token("x" * 40, "mallory", Role.ADMIN, timedelta(minutes=5)),
    "expired": mint_token(LOCAL_JWT_SECRET, "ada", Role.ADMIN, timedelta(minutes=-5)),
    "alg none": jwt.encode({"sub": "mallory", "role": "admin"}, None, algorithm="none"),
    "garbage": "not.a.token",
}


def assert_problem(response: httpx.Response, status: int, what: str) -> None:
    assert response.status_code == status, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"] == "application/problem+json", what


async def send(
    client: httpx.AsyncClient, attempt: Attempt, url: str, headers: dict[str, str]
) -> httpx.Response:
    content_type = {"content-type": attempt.content_type} if attempt.content_type else {}
    return await client.request(
        attempt.method, url, content=attempt.body, headers=headers | content_type
    )


async def test_bad_input_to_every_endpoint_is_a_clear_4xx_and_stores_nothing(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    async with flare_running(flare_env, tmp_path) as flare, httpx.AsyncClient(timeout=30) as client:
        load = Load(flare, "bad-input")
        await load.run(1)
        await settle(flare, load, chaos_row)
        case = (await fetch(flare_env, "SELECT id FROM router.cases"))[0]["id"]
        urls = {name: flare.running(name)[0].url for name in ("intake", "router", "notifier")}
        attempts = [(attempt, bearer(flare.partner)) for attempt in PARTNER_ATTEMPTS]
        attempts += [(attempt, responder_bearer(Role.ADMIN)) for attempt in RESPONDER_ATTEMPTS]
        attempts += [
            (
                replace(attempt, name=f"{attempt.name}, {name} token"),
                {"authorization": f"Bearer {t}"},
            )
            for attempt in NEEDING_A_TOKEN
            for name, t in FORGED_TOKENS.items()
        ]
        for attempt, headers in attempts:
            url = urls[attempt.service] + attempt.path.format(case=case)
            assert_problem(await send(client, attempt, url, headers), attempt.status, attempt.name)
        await partners_stay_apart(flare, client, load)
        await a_flood_is_429_for_that_partner_only(flare, client)
        stored = await fetch(flare_env, "SELECT id::text AS id FROM intake.escalations")
    assert {row["id"] for row in stored} == set(load.accepted.values()), "refused means not stored"


async def partners_stay_apart(flare: Flare, client: httpx.AsyncClient, load: Load) -> None:
    """Another partner's report is not found, and its key cannot replay the first's request."""
    other = bearer(await new_partner(flare.env, "other"))
    [(key, escalation_id)] = load.accepted.items()
    intake = flare.intake.url
    assert_problem(
        await client.get(f"{intake}/v1/escalations/{escalation_id}", headers=other),
        404,
        "another partner's id",
    )
    forged_key = {"authorization": "Bearer flr_forged"}
    assert_problem(
        await client.get(f"{intake}/v1/escalations/{escalation_id}", headers=forged_key),
        401,
        "a forged key",
    )
    body = {**EXAMPLE_ESCALATION, "dedup_key": key, "title": f"Chaos report {key}"}
    replayed = await client.post(
        f"{intake}/v1/escalations",
        json=body,
        headers=bearer(flare.partner) | {"Idempotency-Key": key},
    )
    assert (replayed.status_code, replayed.json()["id"]) == (202, escalation_id), (
        "a replay is the first answer"
    )
    changed = await client.post(
        f"{intake}/v1/escalations",
        json=body | {"title": "changed"},
        headers=bearer(flare.partner) | {"Idempotency-Key": key},
    )
    assert_problem(changed, 409, "the same key, another body")
    theirs = await client.post(
        f"{intake}/v1/escalations",
        json=body | {"title": "changed"},
        headers=other | {"Idempotency-Key": key},
    )
    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["id"] != escalation_id, "keys are per partner"
    load.accepted["other"] = theirs.json()["id"]


async def a_flood_is_429_for_that_partner_only(flare: Flare, client: httpx.AsyncClient) -> None:
    flooder = bearer(await new_partner(flare.env, "flooder", rate_limit_per_minute=20))
    intake = f"{flare.intake.url}/v1/escalations"
    bad = escalation(category="nope")  # refused anyway: the flood stores nothing
    answers = await asyncio.gather(
        *(
            client.post(intake, content=bad, headers=flooder | {"content-type": "application/json"})
            for _ in range(60)
        )
    )
    statuses = {answer.status_code for answer in answers}
    assert statuses == {422, 429}, statuses
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert_problem(limited, 429, "a flood")
    assert int(limited.headers["retry-after"]) > 0
    calm = await client.post(
        intake, content=bad, headers=bearer(flare.partner) | {"content-type": "application/json"}
    )
    assert_problem(calm, 422, "another partner during the flood")
