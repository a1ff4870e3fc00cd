"""The router and the notifier are not ready without Kafka: the one consumes the reports, the
other every case event (intake, whose outbox keeps what it accepts, is: test_intake.py)."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from tests.conftest import FlareEnv
from tests.integration.conftest import running

UNREACHABLE = "127.0.0.1:1"


def router(env: FlareEnv) -> FastAPI:
    return router_app(env.settings(RouterSettings, kafka_bootstrap_servers=UNREACHABLE))


def notifier(env: FlareEnv) -> FastAPI:
    return notifier_app(env.settings(NotifierSettings, kafka_bootstrap_servers=UNREACHABLE))


@pytest.mark.parametrize("make_app", [router, notifier], ids=["router", "notifier"])
async def test_without_kafka_the_service_is_not_ready_and_says_why(
    flare_env: FlareEnv, make_app: Callable[[FlareEnv], FastAPI]
) -> None:
    async with running(make_app(flare_env)) as client:
        response = await client.get("/readyz")
    body: dict[str, Any] = response.json()
    assert response.status_code == 503
    assert body["checks"]["kafka"].startswith("unavailable")
    assert body["checks"]["postgres"] == "ok"
