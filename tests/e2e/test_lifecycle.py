"""SIGTERM: a service reports unready first, keeps answering while it drains, then stops cleanly."""

import asyncio
import signal
from pathlib import Path

import httpx
import pytest
import websockets

from shared.auth import Role
from tests.conftest import FlareEnv
from tests.e2e.console_support import responder_token
from tests.e2e.processes import start_service

pytestmark = pytest.mark.e2e
DRAIN_S = 6.0  # long enough to be seen on a loaded machine: the exit waits for it


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


async def test_stopping_the_notifier_ends_its_live_streams_instead_of_waiting_for_them(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    # A shutdown timeout longer than `terminate` waits: a stop held up by the streams is killed.
    settings = {"FLARE_SHUTDOWN_DRAIN_S": "0", "FLARE_SHUTDOWN_TIMEOUT_S": "120"}
    notifier = start_service("notifier", flare_env, tmp_path, settings)
    token = responder_token("dana", Role.RESPONDER)
    try:
        await notifier.wait_ready()
        ws_url = notifier.url.replace("http", "ws") + f"/v1/ws?token={token}"
        async with (
            httpx.AsyncClient(base_url=notifier.url, timeout=None) as client,
            client.stream("GET", "/v1/stream", params={"token": token}) as sse,
            websockets.connect(ws_url) as websocket,
        ):
            assert sse.status_code == 200
            notifier.process.send_signal(signal.SIGTERM)
            body = [chunk async for chunk in sse.aiter_text()]  # returns once the stream ends
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await websocket.recv()
        exit_code = await asyncio.to_thread(notifier.terminate, 60)
    finally:
        notifier.terminate()
    assert exit_code == -signal.SIGTERM, notifier.log_tail()
    assert "".join(body).startswith("retry:")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1012
