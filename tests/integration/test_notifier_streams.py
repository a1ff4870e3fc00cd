"""Live streams against real Kafka: responder auth, team and severity filters, SSE resume from
the replay buffer with Last-Event-ID, and heartbeats on an idle stream."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings
from shared.auth import Role, mint_token
from shared.events import EventType, Severity
from shared.settings import LOCAL_JWT_SECRET
from tests.conftest import FlareEnv
from tests.integration.conftest import serving
from tests.integration.notifier_peers import (
    case_envelope,
    publish,
    snapshot,
    token,
    wait_ready,
    wait_until,
)

RECEIVE_DEADLINE_S = 15.0


def app(env: FlareEnv, **overrides: Any) -> Any:
    return create_app(env.settings(NotifierSettings, **overrides))


async def next_event(connection: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        await asyncio.wait_for(connection.recv(), RECEIVE_DEADLINE_S)
    )
    return event


async def nothing_more(connection: ClientConnection) -> bool:
    try:
        await asyncio.wait_for(connection.recv(), 0.3)
    except TimeoutError:
        return True
    return False


async def test_websocket_without_a_valid_token_is_refused(flare_env: FlareEnv) -> None:
    async with serving(app(flare_env)) as url:
        ws_url = url.replace("http://", "ws://") + "/v1/ws"
        for bad in ("", "?token=forged"):
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(ws_url + bad):
                    pass
            assert refused.value.response.status_code == 403


async def test_websocket_clients_receive_only_what_their_filters_want(flare_env: FlareEnv) -> None:
    async with serving(app(flare_env)) as url:
        await wait_ready(url)
        ws = url.replace("http://", "ws://") + f"/v1/ws?token={token()}"
        async with (
            websockets.connect(ws + "&team=Legal&team=Sales") as legal,
            websockets.connect(ws + "&min_severity=SEV1") as critical,
            websockets.connect(
                ws, additional_headers={"authorization": f"Bearer {token()}"}
            ) as everything,
        ):
            routine = snapshot(severity=Severity.SEV2)
            legal_case = snapshot(team="Legal", severity=Severity.SEV3)
            watched = snapshot(severity=Severity.SEV1, watchers=["Public Policy", "Legal"])
            events = [
                case_envelope(EventType.CASE_CREATED, case)
                for case in (routine, legal_case, watched)
            ]
            await publish(flare_env, *events, key="one-partition")

            seen = [(await next_event(everything))["id"] for _ in events]
            assert seen == [str(event.id) for event in events]
            assert [(await next_event(legal))["id"] for _ in range(2)] == [
                str(events[1].id),
                str(events[2].id),
            ]
            assert (await next_event(critical))["id"] == str(events[2].id)
            assert await nothing_more(legal)
            assert await nothing_more(critical)


async def sse_frames(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    frame: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if frame:
                yield frame
            frame = {}
            continue
        name, _, value = line.partition(":")
        frame[name or "comment"] = value.removeprefix(" ")


async def first_frames(
    client: httpx.AsyncClient, path: str, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, str]]:
    frames: list[dict[str, str]] = []
    async with (
        asyncio.timeout(RECEIVE_DEADLINE_S),
        client.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for frame in sse_frames(response):
            frames.append(frame)
            if len(frames) == count:
                break
    return frames


async def test_sse_streams_filtered_events_and_resumes_after_last_event_id(
    flare_env: FlareEnv,
) -> None:
    async with serving(app(flare_env)) as url, httpx.AsyncClient(base_url=url) as client:
        await wait_ready(url)
        refused = await client.get("/v1/stream")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"

        path = f"/v1/stream?token={token()}&min_severity=SEV2"
        cases = [
            snapshot(severity=severity)
            for severity in (Severity.SEV1, Severity.SEV4, Severity.SEV2)
        ]
        events = [case_envelope(EventType.CASE_CREATED, case) for case in cases]
        listening = asyncio.create_task(first_frames(client, path, 3))
        await _until_streaming(client)
        await publish(flare_env, *events, key="one-partition")
        retry, first, third = await listening
        assert "retry" in retry
        assert [first["id"], third["id"]] == [str(events[0].id), str(events[2].id)]
        assert first["event"] == "flare.case.created"
        assert json.loads(first["data"])["data"]["case"]["case_id"] == str(cases[0].case_id)

        # Reconnecting after the first event replays what followed it (filtered) from the buffer.
        _, replayed = await first_frames(client, path, 2, {"last-event-id": str(events[0].id)})
        assert replayed["id"] == str(events[2].id)
        _, gap = await first_frames(client, path, 2, {"last-event-id": "long-gone"})
        assert gap["event"] == "gap"


async def _until_streaming(client: httpx.AsyncClient) -> None:
    async def connected() -> bool:
        return "flare_stream_clients 1.0" in (await client.get("/metrics")).text

    await wait_until(connected, RECEIVE_DEADLINE_S, "the SSE client connected")


async def test_idle_sse_stream_gets_heartbeats(flare_env: FlareEnv) -> None:
    async with (
        serving(app(flare_env, stream_heartbeat_s=0.1)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        _, heartbeat = await first_frames(client, f"/v1/stream?token={token()}", 2)
    assert heartbeat == {"comment": "heartbeat"}


def short_lived_token(seconds: float) -> str:
    return mint_token(LOCAL_JWT_SECRET, "ada", Role.RESPONDER, timedelta(seconds=seconds))


async def test_a_websocket_stream_ends_when_its_token_expires(flare_env: FlareEnv) -> None:
    """A token is the only grant: a departed responder's tool must not stream for good."""
    async with serving(app(flare_env)) as url:
        ws = url.replace("http://", "ws://") + f"/v1/ws?token={short_lived_token(5)}"
        async with websockets.connect(ws) as connection:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(connection.recv(), RECEIVE_DEADLINE_S)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "token expired")


async def test_an_sse_stream_ends_when_its_token_expires(flare_env: FlareEnv) -> None:
    async with (
        serving(app(flare_env)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        _, expired = await first_frames(client, f"/v1/stream?token={short_lived_token(5)}", 2)
    assert expired["event"] == "expired"


async def test_a_stream_is_refused_a_token_just_past_its_expiry(flare_env: FlareEnv) -> None:
    """Within the clock allowance such a token still verifies, but its stream would end at once,
    and a browser's EventSource would come back every few seconds until the allowance ran out."""
    async with (
        serving(app(flare_env)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        refused = await client.get(f"/v1/stream?token={short_lived_token(-1)}")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The responder token has expired."
