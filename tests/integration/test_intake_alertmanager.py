"""Alertmanager's webhook, tested with Debian's real `prometheus-alertmanager`: alerts posted to
it are notified to intake, become escalations, and resolve when the alert resolves."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.partners import NewKey
from shared.events import ReporterType
from tests.alertmanager import BINARY, alertmanager, install_alertmanager
from tests.conftest import FlareEnv
from tests.intake_support import intake_app, new_partner
from tests.integration.conftest import fetch, serving

DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def alertmanager_binary() -> str:
    """Installed with apt-get when missing; the test is skipped only if that cannot be done."""
    path = install_alertmanager()
    if path is None:
        pytest.skip(f"{BINARY} is not installed and apt-get could not install it")
    return path


def config(intake_url: str, key: NewKey) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "flare",
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "flare",
                "webhook_configs": [
                    {
                        "url": f"{intake_url}/v1/integrations/alertmanager",
                        "send_resolved": True,
                        "http_config": {"authorization": {"credentials": key.api_key}},
                    }
                ],
            }
        ],
    }


async def rows_when(env: FlareEnv, query: str, count: int) -> list[Any]:
    async with asyncio.timeout(DEADLINE_S):
        while True:
            rows = await fetch(env, query)
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.2)


async def test_alerts_from_real_alertmanager_become_escalations_and_resolve(
    flare_env: FlareEnv, alertmanager_binary: str, tmp_path: Path
) -> None:
    key = await new_partner(flare_env, "prometheus", ReporterType.MONITORING)
    starts = datetime.now(UTC)
    alert = {
        "labels": {
            "alertname": "ViolentVideoSurge",
            "severity": "critical",
            "flare_category": "crisis",
            "flare_product": "instagram",
            "flare_region": "BR",
        },
        "annotations": {"summary": "Reshares of a violent video surge", "description": "x5 in 10m"},
        "generatorURL": "https://prometheus.example.org/graph?g0.expr=reshares",
        "startsAt": starts.isoformat(),
    }
    async with (
        serving(intake_app(flare_env)) as intake_url,
        alertmanager(alertmanager_binary, tmp_path, config(intake_url, key)) as (manager_url, _),
        httpx.AsyncClient(base_url=manager_url) as client,
    ):
        assert (await client.post("/api/v2/alerts", json=[alert])).status_code == 200
        [row] = await rows_when(flare_env, "SELECT * FROM intake.escalations", 1)
        ended = {**alert, "endsAt": datetime.now(UTC).isoformat()}
        assert (await client.post("/api/v2/alerts", json=[ended])).status_code == 200
        await rows_when(
            flare_env, "SELECT 1 FROM intake.escalations WHERE source_status = 'resolved'", 1
        )
    body = json.loads(row["body"])
    assert row["partner_id"] == key.partner.id
    assert (body["category"], body["product"], body["region"]) == ("crisis", "instagram", "BR")
    assert body["title"] == "Reshares of a violent video surge"
    assert body["signals"]["imminent_harm"] is True
    assert body["reporter"] == {"type": "monitoring", "name": "prometheus"}
    assert body["dedup_key"] == row["dedup_key"]
    assert len(row["dedup_key"]) == 16, "Alertmanager's fingerprint"
    assert body["labels"]["alertname"] == "ViolentVideoSurge"
    assert abs(datetime.fromisoformat(body["occurred_at"]) - starts) < timedelta(seconds=1)
    assert len(await fetch(flare_env, "SELECT 1 FROM intake.escalations")) == 1, "no repeats"
