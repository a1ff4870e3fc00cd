"""One escalation from a partner's POST through Kafka and Postgres to a responder's WebSocket."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import websockets

from services.intake.schemas import EXAMPLE_ESCALATION
from shared.auth import Role, mint_token
from shared.settings import LOCAL_JWT_SECRET
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


def partner_key(env: FlareEnv) -> str:
    """A partner created the way an operator does it: the admin CLI prints the key once."""
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.intake",
            "partner",
            "create",
            "e2e-flagger",
            "--reporter-type",
            "trusted_flagger",
        ],
        env={**os.environ, **env.service_env()},
        capture_output=True,
        text=True,
        check=True,
    )
    [line] = [line for line in created.stdout.splitlines() if line.startswith("api_key: ")]
    return line.removeprefix("api_key: ")


def responder_headers() -> dict[str, str]:
    """A responder's token, signed with the secret the services run with (the default)."""
    secret = LOCAL_JWT_SECRET
    token = mint_token(secret, "e2e-responder", Role.RESPONDER, timedelta(minutes=5))
    return {"Authorization": f"Bearer {token}"}


async def routed_status(client: httpx.AsyncClient, escalation_id: str) -> Any:
    async with asyncio.timeout(ALERT_DEADLINE_S):
        while True:
            shown = (await client.get(f"/v1/escalations/{escalation_id}")).json()
            if shown["status"] == "routed":
                return shown
            await asyncio.sleep(0.2)


async def test_escalation_reaches_the_websocket_as_one_case(
    flare_env: FlareEnv, flare: dict[str, ServiceProcess]
) -> None:
    for service in flare.values():
        await service.wait_ready()
    headers = {"Authorization": f"Bearer {partner_key(flare_env)}"}
    notifier_ws = flare["notifier"].url.replace("http://", "ws://") + "/v1/ws"
    async with (
        websockets.connect(notifier_ws, additional_headers=responder_headers()) as alerts,
        httpx.AsyncClient(base_url=flare["intake"].url, headers=headers) as client,
    ):
        response = await client.post("/v1/escalations", json=EXAMPLE_ESCALATION)
        assert response.status_code == 202, response.text
        escalation_id = response.json()["id"]
        alert = json.loads(await asyncio.wait_for(alerts.recv(), ALERT_DEADLINE_S))
        status = await routed_status(client, escalation_id)
        metrics = (await client.get(f"{flare['notifier'].url}/metrics")).text

    assert alert["type"] == "flare.case.created"
    assert alert["data"]["escalation_id"] == escalation_id
    assert alert["data"]["case"]["title"] == EXAMPLE_ESCALATION["title"]
    cases = await fetch(
        flare_env, "SELECT id FROM router.cases WHERE escalation_id = $1", UUID(escalation_id)
    )
    assert [str(row["id"]) for row in cases] == [alert["data"]["case"]["case_id"]]
    assert status["case_id"] == alert["data"]["case"]["case_id"], "intake read back the case"
    assert alert["data"]["received_at"] == response.json()["received_at"]
    assert "flare_alert_latency_seconds_count 1.0" in metrics, "report-to-alert latency measured"


async def test_services_shut_down_gracefully_on_sigterm(flare: dict[str, ServiceProcess]) -> None:
    for service in flare.values():
        await service.wait_ready()
    exit_codes = {name: service.terminate() for name, service in flare.items()}
    # uvicorn re-raises SIGTERM once shutdown is complete, so the exit status is the signal's;
    # the lifespan's last log line is what shows the shutdown finished its work.
    assert exit_codes == dict.fromkeys(SERVICES, -signal.SIGTERM)
    for service in flare.values():
        assert '"event": "service_stopped"' in service.log.read_text(), service.log_tail()
