"""SIGTERM under load: a router stopped mid-stream and replaced loses no report, repeats none."""

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from services.intake.schemas import EXAMPLE_ESCALATION
from tests.conftest import FlareEnv
from tests.e2e.processes import ServiceProcess, start_service
from tests.intake_support import bearer, new_partner
from tests.integration.conftest import fetch

pytestmark = pytest.mark.e2e
REPORTS = 120
DEADLINE_S = 60


async def post_reports(intake: ServiceProcess, headers: dict[str, str], start: int) -> list[str]:
    """Reports on distinct subjects (so each opens its own case), a few at a time."""
    accepted: list[str] = []
    async with httpx.AsyncClient(base_url=intake.url, headers=headers, timeout=10) as client:
        for batch in range(start, start + REPORTS // 2, 10):
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/v1/escalations", json={**EXAMPLE_ESCALATION, "dedup_key": f"k{n}"}
                    )
                    for n in range(batch, batch + 10)
                )
            )
            accepted += [r.json()["id"] for r in responses if r.status_code == 202]
    return accepted


async def count(env: FlareEnv, table: str) -> int:
    return len(await fetch(env, f"SELECT 1 FROM {table}"))


async def wait_for_reports(env: FlareEnv, at_least: int) -> None:
    async with asyncio.timeout(DEADLINE_S):
        while True:
            if await count(env, "router.case_reports") >= at_least:
                return
            await asyncio.sleep(0.1)


async def test_router_stopped_under_load_then_replaced_handles_every_report_once(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
    intake = start_service("intake", flare_env, tmp_path)
    routers = [start_service("router", flare_env, tmp_path / "first")]
    try:
        await intake.wait_ready()
        await routers[0].wait_ready()
        headers = bearer(await new_partner(flare_env))
        posting = asyncio.create_task(post_reports(intake, headers, 0))
        await wait_for_reports(flare_env, 10)  # mid-stream: reports are flowing through it
        assert await asyncio.to_thread(routers[0].terminate) == -signal.SIGTERM
        routers.append(start_service("router", flare_env, tmp_path / "second"))
        accepted = await posting + await post_reports(intake, headers, REPORTS // 2)
        await routers[1].wait_ready()
        await wait_for_reports(flare_env, len(accepted))
    finally:
        for service in (intake, *routers):
            service.terminate()
    assert len(accepted) == REPORTS
    reports = await fetch(flare_env, "SELECT escalation_id::text AS id FROM router.case_reports")
    assert sorted(row["id"] for row in reports) == sorted(accepted), "each report handled once"
    cases = await fetch(flare_env, "SELECT report_count FROM router.cases")
    assert [row["report_count"] for row in cases] == [1] * REPORTS
    assert '"event": "service_stopped"' in routers[0].log.read_text(), routers[0].log_tail()
