"""PagerDuty Events API v2, tested with the official `pagerduty` client pointed at intake."""

import asyncio
import json
import ssl
import subprocess
from pathlib import Path

import pagerduty
import pytest

from shared.events import ReporterType
from tests.conftest import FlareEnv
from tests.intake_support import intake_app, new_partner
from tests.integration.conftest import fetch, serving


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: the client only speaks HTTPS, as PagerDuty does."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        capture_output=True,
        check=True,
    )
    return cert, key


def client_for(url: str, routing_key: str, cert: Path) -> pagerduty.EventsApiV2Client:
    trusting = ssl.create_default_context(cafile=str(cert))
    return pagerduty.EventsApiV2Client(routing_key, base_url=url, verify=trusting)


async def test_pagerduty_client_triggers_acknowledges_and_resolves_an_escalation(
    flare_env: FlareEnv, certificate: tuple[Path, Path]
) -> None:
    key = await new_partner(flare_env, "pd-bridge", ReporterType.MONITORING)
    async with serving(intake_app(flare_env), certificate) as url:
        client = client_for(url, key.api_key, certificate[0])
        dedup_key = await asyncio.to_thread(
            client.trigger,
            "Election misinformation spike in BR",
            "trend-monitor",
            dedup_key="br-election-spike",
            severity="critical",
            custom_details={"flare_category": "elections", "flare_region": "BR", "rate": 42},
        )
        # PagerDuty folds a repeated trigger of an open alert into it: so does intake.
        again = await asyncio.to_thread(
            client.trigger, "Still spiking", "trend-monitor", dedup_key="br-election-spike"
        )
        await asyncio.to_thread(client.acknowledge, "br-election-spike")
        acknowledged = await fetch(flare_env, "SELECT source_status FROM intake.escalations")
        await asyncio.to_thread(client.resolve, "br-election-spike")
        generated = await asyncio.to_thread(client.trigger, "No dedup key given", "cron")
        client.close()
    rows = await fetch(flare_env, "SELECT * FROM intake.escalations ORDER BY received_at")
    assert (dedup_key, again) == ("br-election-spike", "br-election-spike")
    assert [row["source_status"] for row in acknowledged] == ["acknowledged"]
    assert [row["dedup_key"] for row in rows] == ["br-election-spike", generated]
    assert rows[0]["source_status"] == "resolved"
    first = json.loads(rows[0]["body"])
    assert (first["category"], first["region"]) == ("elections", "BR")
    assert first["signals"]["imminent_harm"] is True, "payload.severity critical"
    assert first["labels"]["pagerduty_severity"] == "critical"
    assert '"rate": 42' in first["description"]
    assert json.loads(rows[1]["body"])["category"] == "other"


async def test_pagerduty_client_with_an_unknown_routing_key_is_refused(
    flare_env: FlareEnv, certificate: tuple[Path, Path]
) -> None:
    async with serving(intake_app(flare_env), certificate) as url:
        with (
            client_for(url, "flare_not-a-key", certificate[0]) as client,
            pytest.raises(pagerduty.Error),
        ):
            await asyncio.to_thread(client.trigger, "x", "y")
    assert await fetch(flare_env, "SELECT 1 FROM intake.escalations") == []
