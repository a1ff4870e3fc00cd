"""One escalation from a partner's POST through Kafka and Postgres to a responder's WebSocket."""

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import websockets

from services.intake.schemas import EXAMPLE_ESCALATION
from tests.conftest import SERVICES, FlareEnv
from tests.e2e.processes import ServiceProcess, start_service
from tests.integration.conftest import fetch

pytestmark = pytest.mark.e2e
ALERT_DEADLINE_S = 30


@pytest.fixture
def flare(flare_env: FlareEnv, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    services = {name: start_service(name, flare_env, tmp_path) for name in SERVICES}
    yield services
    for service in services.values():
        service.terminate()


async def test_escalation_reaches_the_websocket_as_one_case(
    flare_env: FlareEnv, flare: dict[str, ServiceProcess]
) -> None:
    for service in flare.values():
        await service.wait_ready()
    notifier_ws = flare["notifier"].url.replace("http://", "ws://") + "/v1/ws"
    async with websockets.connect(notifier_ws) as alerts:
        async with httpx.AsyncClient(base_url=flare["intake"].url) as client:
            response = await client.post("/v1/escalations", json=EXAMPLE_ESCALATION)
        assert response.status_code == 202, response.text
        escalation_id = response.json()["id"]
        alert = json.loads(await asyncio.wait_for(alerts.recv(), ALERT_DEADLINE_S))

    assert alert["type"] == "flare.case.created"
    assert alert["data"]["escalation_id"] == escalation_id
    assert alert["data"]["case"]["title"] == EXAMPLE_ESCALATION["title"]
    cases = await fetch(
        flare_env, "SELECT id FROM router.cases WHERE escalation_id = $1", UUID(escalation_id)
    )
    assert [str(row["id"]) for row in cases] == [alert["data"]["case"]["case_id"]]


async def test_services_shut_down_gracefully_on_sigterm(flare: dict[str, ServiceProcess]) -> None:
    for service in flare.values():
        await service.wait_ready()
    exit_codes = {name: service.terminate() for name, service in flare.items()}
    # uvicorn re-raises SIGTERM once shutdown is complete, so the exit status is the signal's;
    # the lifespan's last log line is what shows the shutdown finished its work.
    assert exit_codes == dict.fromkeys(SERVICES, -signal.SIGTERM)
    for service in flare.values():
        assert '"event": "service_stopped"' in service.log.read_text(), service.log_tail()
