"""Kafka SIGKILLed under load and restarted after a delay: intake keeps accepting, the router
and the notifier stay ready (the responders' API and the console are served), the backlog
drains, and every accepted report is one case, alerted once."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.kafka import KafkaAccess
from shared.kafka_admin import create_topics
from tests.chaos.system import Load, flare_running, outage_under_load, settle
from tests.chaos.table import Row
from tests.conftest import FlareEnv
from tests.disposable import disposable_kafka
from tests.e2e.processes import ServiceProcess

pytestmark = [pytest.mark.chaos("kafka-killed"), pytest.mark.slow]
REPORTS = 200
DOWN_S = 5


async def readiness_without_kafka(service: ServiceProcess) -> tuple[int, dict[str, Any]]:
    """A service's /readyz status and body once its checks have found Kafka gone."""
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            response = await client.get(f"{service.url}/readyz")
            body: dict[str, Any] = response.json()
            if body["checks"]["kafka"] != "ok":
                return response.status_code, body
            await asyncio.sleep(0.1)
    raise AssertionError(f"{service.name}'s /readyz did not notice Kafka is down")


async def test_kafka_killed_under_load_loses_and_repeats_nothing(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    with disposable_kafka() as (broker, bootstrap):
        env = FlareEnv(flare_env.database_url, bootstrap, flare_env.topic_prefix)
        await create_topics(KafkaAccess(bootstrap), env.topics)
        async with flare_running(env, tmp_path) as flare:
            load = Load(flare, "kafka")
            readiness: list[tuple[int, dict[str, Any]]] = []

            async def kill() -> None:
                await broker.kill()
                for name in ("router", "notifier"):
                    readiness.append(await readiness_without_kafka(flare.running(name)[0]))

            down = await outage_under_load(load, REPORTS, kill, broker, DOWN_S)
            await settle(flare, load, chaos_row)
    assert down > 0, "intake accepted reports while Kafka was down"
    assert set(load.statuses) == {202}, "Kafka down: intake keeps accepting"
    assert [status for status, _ in readiness] == [200, 200], readiness
