"""The live streams' framing: a WebSocket pump and a Server-Sent Events generator over the hub.

Slow clients are cut off rather than slowing the others: a WebSocket closes with 1013 ("try
again later"), an SSE stream ends with a `dropped` event; both name the reason. SSE sends a
comment every heartbeat interval while idle; WebSocket liveness uses protocol pings (uvicorn).
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import suppress

from fastapi import WebSocket, WebSocketDisconnect

from services.notifier.hub import TOO_SLOW, StreamEvent, StreamHub, Subscriber

# RFC 6455 "Try Again Later": the client fell behind and should reconnect.
CLOSE_TOO_SLOW = 1013
TOO_SLOW_REASON = "client too slow; reconnect"
# Browsers wait this long before reconnecting an EventSource.
SSE_RETRY_MS = 2000


async def _until_disconnect(websocket: WebSocket) -> None:
    with suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


async def pump_websocket(websocket: WebSocket, hub: StreamHub, subscriber: Subscriber) -> None:
    disconnected = asyncio.create_task(_until_disconnect(websocket))
    try:
        while True:
            next_message = asyncio.create_task(subscriber.queue.get())
            await asyncio.wait({next_message, disconnected}, return_when=asyncio.FIRST_COMPLETED)
            if disconnected.done():
                next_message.cancel()
                return
            event = next_message.result()
            if event is TOO_SLOW:
                await websocket.close(code=CLOSE_TOO_SLOW, reason=TOO_SLOW_REASON)
                return
            await websocket.send_text(event.text)
    finally:
        hub.unsubscribe(subscriber)
        disconnected.cancel()


def sse_frame(event: StreamEvent) -> str:
    return f"id: {event.id}\nevent: {event.event_type}\ndata: {event.text}\n\n"


async def sse_events(
    hub: StreamHub,
    subscriber: Subscriber,
    missed: list[StreamEvent] | None,
    heartbeat_s: float,
) -> AsyncIterator[str]:
    """The SSE body: what the client missed (or a `gap` event), then live events."""
    try:
        yield f"retry: {SSE_RETRY_MS}\n\n"
        if missed is None:
            gap = {"detail": "Last-Event-ID is no longer buffered; reload the cases you need."}
            yield f"event: gap\ndata: {json.dumps(gap)}\n\n"
        for earlier in missed or ():
            yield sse_frame(earlier)
        while True:
            try:
                event: StreamEvent | None = await asyncio.wait_for(
                    subscriber.queue.get(), heartbeat_s
                )
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if event is TOO_SLOW:
                yield f"event: dropped\ndata: {json.dumps({'reason': TOO_SLOW_REASON})}\n\n"
                return
            yield sse_frame(event)
    finally:
        hub.unsubscribe(subscriber)
