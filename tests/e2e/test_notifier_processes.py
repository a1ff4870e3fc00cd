"""The notifier as real processes: every replica streams every event to its own clients, and an
escalation timer pending when the process is SIGKILLed fires once after the restart."""

import asyncio
import json
from pathlib import Path
from uuid import UUID

import pytest
import websockets

from shared.events import EventType
from tests.conftest import FlareEnv
from tests.e2e.processes import FAST_NOTIFIER, ServiceProcess, start_service
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import (
    case_envelope,
    publish,
    receiver,
    set_policy,
    snapshot,
    token,
    wait_until,
)

pytestmark = pytest.mark.e2e
DEADLINE_S = 30
TEAM = "Global Operations"


def notifier(env: FlareEnv, log_dir: Path) -> ServiceProcess:
    log_dir.mkdir(exist_ok=True)
    return start_service("notifier", env, log_dir, FAST_NOTIFIER)


async def test_two_replicas_both_stream_an_event_to_their_own_clients(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    replicas = [notifier(flare_env, tmp_path / name) for name in ("a", "b")]
    try:
        await asyncio.gather(*(replica.wait_ready() for replica in replicas))
        urls = [
            replica.url.replace("http://", "ws://") + f"/v1/ws?token={token()}"
            for replica in replicas
        ]
        async with websockets.connect(urls[0]) as first, websockets.connect(urls[1]) as second:
            event = case_envelope(EventType.CASE_CREATED, snapshot())
            await publish(flare_env, event)
            for client in (first, second):
                alert = json.loads(await asyncio.wait_for(client.recv(), DEADLINE_S))
                assert alert["id"] == str(event.id)
    finally:
        for replica in replicas:
            replica.terminate()


async def delivered_pages(env: FlareEnv, case_id: UUID) -> list[str]:
    rows = await fetch(
        env,
        "SELECT status FROM notifier.deliveries WHERE case_id = $1 ORDER BY created_at",
        case_id,
    )
    return [row["status"] for row in rows]


async def test_timer_pending_at_sigkill_fires_once_after_restart(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    async with receiver() as peer:
        steps = [
            {"name": "on-call", "targets": [f"chat:{peer.url}/oncall"]},
            # Due long after the kill, however slow the machine; brought forward after it.
            {"name": "lead", "wait": "1h", "targets": [f"chat:{peer.url}/lead"]},
        ]
        set_policy(flare_env, tmp_path, TEAM, steps)
        case = snapshot(team=TEAM)
        first = notifier(flare_env, tmp_path / "first")
        try:
            await first.wait_ready()
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

            async def paged_on_call() -> bool:
                return await delivered_pages(flare_env, case.case_id) == ["delivered"]

            await wait_until(paged_on_call, DEADLINE_S, "the first page")
        finally:
            first.kill()  # no shutdown: the lead's timer is still pending
        pending = await fetch(flare_env, "SELECT state, next_step FROM notifier.escalation_timers")
        assert [tuple(row) for row in pending] == [("pending", 1)]
        await fetch(flare_env, "UPDATE notifier.escalation_timers SET fire_at = now() RETURNING 1")
        second = notifier(flare_env, tmp_path / "second")
        try:
            await second.wait_ready()

            async def paged_lead() -> bool:
                return await delivered_pages(flare_env, case.case_id) == ["delivered"] * 2

            await wait_until(paged_lead, DEADLINE_S, "the lead's page after the restart")
        finally:
            second.terminate()
    assert [request.path for request in peer.requests] == ["oncall", "lead"]
    timers = await fetch(flare_env, "SELECT state FROM notifier.escalation_timers")
    assert [row["state"] for row in timers] == ["done"]
