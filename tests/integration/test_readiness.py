"""Without Kafka the router is ready: the responders' API needs only PostgreSQL (intake, whose
outbox keeps what it accepts, is too: test_intake.py). The notifier is not until its streams have
their place on the topic (ADR 0003); once they have, a Kafka outage leaves it ready
(tests/chaos/test_kafka_killed.py)."""

from typing import Any

from fastapi import FastAPI

from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from tests.conftest import FlareEnv
from tests.integration.conftest import running

UNREACHABLE = "127.0.0.1:1"


async def readiness_without_kafka(app: FastAPI) -> tuple[int, dict[str, Any]]:
    """/readyz's status and checks, from a service given a Kafka nobody listens at."""
    async with running(app) as client:
        response = await client.get("/readyz")
    body: dict[str, Any] = response.json()
    assert body["checks"]["kafka"].startswith("unavailable")
    assert body["checks"]["postgres"] == "ok"
    return response.status_code, body["checks"]


async def test_without_kafka_the_router_is_ready_and_says_kafka_is_down(
    flare_env: FlareEnv,
) -> None:
    settings = flare_env.settings(RouterSettings, kafka_bootstrap_servers=UNREACHABLE)
    status, checks = await readiness_without_kafka(router_app(settings))
    assert status == 200, checks


async def test_a_notifier_that_never_reached_kafka_is_not_ready_and_says_why(
    flare_env: FlareEnv,
) -> None:
    settings = flare_env.settings(NotifierSettings, kafka_bootstrap_servers=UNREACHABLE)
    status, checks = await readiness_without_kafka(notifier_app(settings))
    assert status == 503
    assert "the case stream is not positioned yet" in checks["stream"]
