"""Limits: 413 over 1 MiB however the body arrives; 429 with Retry-After per partner."""

import asyncio
from collections.abc import AsyncIterator

from structlog.testing import capture_logs

from services.intake.schemas import EXAMPLE_ESCALATION
from tests.conftest import FlareEnv
from tests.intake_support import PartnerClient, bearer, intake_app, new_partner
from tests.integration.conftest import fetch, running

MIB = 1024 * 1024


async def test_streamed_body_over_one_mib_is_413_without_content_length(
    flare_env: FlareEnv,
) -> None:
    key = await new_partner(flare_env)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    async with running(intake_app(flare_env)) as http:
        response = await http.post(
            "/v1/escalations",
            content=chunks(),
            headers={**bearer(key), "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_partner_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not(
    flare_env: FlareEnv,
) -> None:
    flooder = await new_partner(flare_env, "flooder", rate_limit_per_minute=3)
    quiet = await new_partner(flare_env, "quiet", rate_limit_per_minute=3)
    async with running(intake_app(flare_env)) as http:
        flood, calm = PartnerClient(http, flooder), PartnerClient(http, quiet)
        flooded = await asyncio.gather(*(flood.post() for _ in range(40)))
        calm_statuses = [(await calm.post()).status_code for _ in range(3)]
    statuses = [response.status_code for response in flooded]
    assert statuses.count(202) == 3
    assert statuses.count(429) == 37
    refused = next(response for response in flooded if response.status_code == 429)
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    assert calm_statuses == [202, 202, 202]
    assert len(await fetch(flare_env, "SELECT 1 FROM intake.escalations")) == 6


async def test_body_just_under_one_mib_is_read_and_validated(flare_env: FlareEnv) -> None:
    """The limit is on size, not on content: a body at the limit reaches validation."""
    key = await new_partner(flare_env)
    padding = MIB - len(str(EXAMPLE_ESCALATION)) - 200
    body = {**EXAMPLE_ESCALATION, "labels": {"pad": "x"}, "description": "x" * padding}
    async with running(intake_app(flare_env)) as http:
        response = await http.post("/v1/escalations", json=body, headers=bearer(key))
    assert response.status_code == 422, "too long a description, but not too large a body"


def webhook(*fingerprints: str, status: str = "firing") -> dict[str, object]:
    alerts = [
        {"status": status, "labels": {"alertname": "Surge"}, "fingerprint": fingerprint}
        for fingerprint in fingerprints
    ]
    return {"version": "4", "status": status, "alerts": alerts}


async def test_each_alert_of_an_alertmanager_webhook_takes_its_share_of_the_quota(
    flare_env: FlareEnv,
) -> None:
    """One request must not bring a thousand alerts for the price of one."""
    key = await new_partner(flare_env, "alertmanager", rate_limit_per_minute=5)
    async with running(intake_app(flare_env)) as http:
        path, auth = "/v1/integrations/alertmanager", bearer(key)
        batch = await http.post(path, json=webhook(*"abcd"), headers=auth)
        one = await http.post(path, json=webhook("e"), headers=auth)
        over = await http.post(path, json=webhook("f"), headers=auth)
    assert [r.status_code for r in (batch, one, over)] == [202, 202, 429]
    assert len(await fetch(flare_env, "SELECT 1 FROM intake.escalations")) == 5


async def test_a_webhook_larger_than_the_quota_gets_in_once_the_bucket_is_full(
    flare_env: FlareEnv,
) -> None:
    firing = await new_partner(flare_env, "firing", rate_limit_per_minute=3)
    resolving = await new_partner(flare_env, "resolving", rate_limit_per_minute=3)
    async with running(intake_app(flare_env)) as http:
        path = "/v1/integrations/alertmanager"
        large = await http.post(path, json=webhook(*"abcdef"), headers=bearer(firing))
        # Resolved alerts pay their share too: each is a transaction of its own.
        resolved = await http.post(
            path, json=webhook(*"abc", status="resolved"), headers=bearer(resolving)
        )
        after = await http.post(path, json=webhook("g"), headers=bearer(resolving))
    assert [r.status_code for r in (large, resolved, after)] == [202, 202, 429]
    assert len(await fetch(flare_env, "SELECT 1 FROM intake.escalations")) == 6


async def test_alerts_alertmanager_truncated_are_logged_with_their_number(
    flare_env: FlareEnv,
) -> None:
    key = await new_partner(flare_env, "alertmanager")
    truncated = {**webhook("a"), "truncatedAlerts": 12}
    async with running(intake_app(flare_env)) as http:
        with capture_logs() as logs:
            response = await http.post(
                "/v1/integrations/alertmanager", json=truncated, headers=bearer(key)
            )
    assert response.status_code == 202
    [line] = [line for line in logs if line["event"] == "alertmanager_alerts_truncated"]
    assert (line["partner"], line["alerts"]) == ("alertmanager", 12)
