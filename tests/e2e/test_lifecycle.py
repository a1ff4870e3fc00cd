"""SIGTERM: a service reports unready first, keeps answering while it drains, then stops cleanly."""

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import FlareEnv
from tests.e2e.processes import start_service

pytestmark = pytest.mark.e2e
DRAIN_S = 2.0


@pytest.mark.parametrize("name", ["intake", "router", "notifier"])
async def test_sigterm_turns_readyz_false_while_still_serving_then_exits(
    flare_env: FlareEnv, tmp_path: Path, name: str
) -> None:
    service = start_service(name, flare_env, tmp_path, {"FLARE_SHUTDOWN_DRAIN_S": str(DRAIN_S)})
    try:
        await service.wait_ready()
        service.process.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient(base_url=service.url, timeout=2) as client:
            async with asyncio.timeout(DRAIN_S):
                while True:
                    if (await client.get("/readyz")).status_code == 503:
                        break
                    await asyncio.sleep(0.05)
            assert (await client.get("/healthz")).status_code == 200, "still serving while draining"
        exit_code = await asyncio.to_thread(service.process.wait, 30)
    finally:
        service.terminate()
    assert exit_code == -signal.SIGTERM
    assert '"event": "service_stopped"' in service.log.read_text(), service.log_tail()
