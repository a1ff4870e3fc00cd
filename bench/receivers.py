"""The far ends of the pipelines: Flare's alerts on a responder WebSocket and its pages on a
chat webhook, Alertmanager's notifications on a webhook. Each records when every item arrived
(time.monotonic)."""

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import uvicorn
import websockets

CASE_CREATED = "flare.case.created"


class Arrivals:
    """When each id arrived; a second arrival of an id is a duplicate."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.duplicates = 0
        self._waiting: dict[str, asyncio.Future[None]] = {}

    def record(self, item_id: str) -> None:
        if item_id in self.first:
            self.duplicates += 1
            return
        self.first[item_id] = time.monotonic()
        if (waiter := self._waiting.pop(item_id, None)) is not None:
            waiter.set_result(None)

    async def wait_one(self, item_id: str, timeout_s: float) -> None:
        """Until this id has arrived (it may have already); TimeoutError at the deadline."""
        if item_id in self.first:
            return
        waiter = self._waiting.setdefault(item_id, asyncio.get_running_loop().create_future())
        await asyncio.wait_for(waiter, timeout_s)

    async def wait_for(self, ids: set[str], timeout_s: float) -> bool:
        """True once every id has arrived; False at the deadline."""
        deadline = time.monotonic() + timeout_s
        while not ids.issubset(self.first.keys()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True


@asynccontextmanager
async def websocket_alerts(url: str, token: str) -> AsyncIterator[Arrivals]:
    """A responder's WebSocket: every flare.case.created alert, by escalation id."""
    arrivals = Arrivals()
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(url, additional_headers=headers, max_queue=None) as socket:

        async def read() -> None:
            async for message in socket:
                alert = json.loads(message)
                if alert["type"] == CASE_CREATED:
                    arrivals.record(alert["data"]["escalation_id"])

        reader = asyncio.create_task(read())
        try:
            yield arrivals
        finally:
            reader.cancel()
            with suppress(asyncio.CancelledError):
                await reader


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@asynccontextmanager
async def webhook_alerts(port: int) -> AsyncIterator[Arrivals]:
    """An Alertmanager webhook receiver on loopback: every alert, by its `bench_id` label."""
    async with _http_receiver(
        port, lambda body: [alert["labels"]["bench_id"] for alert in body["alerts"]]
    ) as arrivals:
        yield arrivals


# The console link every chat page carries names its case.
CASE_LINK = re.compile(r"/cases/([0-9a-f-]{36})")


@asynccontextmanager
async def chat_pages(port: int) -> AsyncIterator[Arrivals]:
    """A Slack-compatible incoming webhook on loopback: every page, by the case it is about."""
    async with _http_receiver(port, lambda body: CASE_LINK.findall(body["text"])[:1]) as arrivals:
        yield arrivals


@asynccontextmanager
async def _http_receiver(
    port: int, ids_of: Callable[[dict[str, Any]], list[str]]
) -> AsyncIterator[Arrivals]:
    """An HTTP server on loopback recording the ids `ids_of` finds in each JSON body."""
    arrivals = Arrivals()

    async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        for item_id in ids_of(json.loads(body)):
            arrivals.record(item_id)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            raise RuntimeError(f"the receiver could not listen on port {port}")
        await asyncio.sleep(0.05)
    try:
        yield arrivals
    finally:
        server.should_exit = True
        await serving
